/*
 * config_test.c - settings: defaults, INI files, overrides, and every
 * rejection with its message.
 */
#include <stdlib.h>
#include <unistd.h>

#include "../../dataplane/config.h"
#include "check.h"

static int load_text(struct config *c, const char *text, char *err, size_t n)
{
	char path[] = "/tmp/idgate-config-XXXXXX";
	int fd = mkstemp(path), rc;

	if (fd < 0 || write(fd, text, strlen(text)) < 0)
		return -2;
	close(fd);
	rc = config_load(c, path, err, n);
	unlink(path);
	return rc;
}

int main(void)
{
	struct config c;
	char err[300];
	char host[64];
	uint16_t port;

	config_defaults(&c);
	CHECK_STR(c.listen, "127.0.0.1:8443");
	CHECK_STR(c.admin_listen, "127.0.0.1:9090");
	CHECK_STR(c.state_dir, "./var");
	CHECK_EQ(c.max_body, 16384);
	CHECK_EQ(c.poll, POLL_BUSY);
	CHECK_EQ(config_finish(&c, err, sizeof(err)), 0);
	CHECK_STR(c.issuer, "https://127.0.0.1:8443");
	CHECK_STR(c.token_endpoint, "https://127.0.0.1:8443/oauth2/token");
	CHECK_STR(c.hsm_pin_file, "./var/hsm.pin");
	CHECK_STR(c.admin_token_file, "./var/admin.token");

	config_defaults(&c);
	CHECK_EQ(load_text(&c, "[server]\nworkers = 3\npoll = adaptive\nlisten = [::1]:443\n"
			   "[tls]\nmin_version = 1.3\ncert_file = /etc/idgate/cert.pem\n"
			   "[hsm]\nmodule = /opt/hsm/lib.so\nthreads = 30\n", err, sizeof(err)), 0);
	CHECK_EQ(c.workers, 3);
	CHECK_EQ(c.poll, POLL_ADAPTIVE);
	CHECK_EQ(c.tls_min_version, 13);
	CHECK_EQ(c.hsm_threads, 30);
	CHECK_EQ(config_finish(&c, err, sizeof(err)), 0);
	CHECK_STR(c.cert_file, "/etc/idgate/cert.pem"); /* absolute stays */
	CHECK_STR(c.issuer, "https://[::1]:443");

	/* Rejections, each with a message naming the setting. */
	config_defaults(&c);
	CHECK_EQ(load_text(&c, "[server]\nworkers = many\n", err, sizeof(err)), -1);
	CHECK(strstr(err, "server.workers") && strstr(err, "line 2"));
	CHECK_EQ(load_text(&c, "[server]\nnonsense = 1\n", err, sizeof(err)), -1);
	CHECK(strstr(err, "unknown setting server.nonsense"));
	CHECK_EQ(load_text(&c, "[server\nworkers = 1\n", err, sizeof(err)), -1);
	CHECK(strstr(err, "syntax error") || strstr(err, "unknown"));
	CHECK_EQ(config_load(&c, "/nonexistent/idgate.ini", err, sizeof(err)), -1);
	CHECK(strstr(err, "cannot open"));
	CHECK_EQ(config_set(&c, "server", "poll", "sometimes", err, sizeof(err)), -1);
	CHECK_EQ(config_set(&c, "server", "max_conns", "-1", err, sizeof(err)), -1);
	CHECK_EQ(config_set(&c, "server", "rate_limit", "-5", err, sizeof(err)), -1);
	CHECK_EQ(config_set(&c, "tls", "min_version", "1.1", err, sizeof(err)), -1);
	CHECK_EQ(config_set(&c, "server", "verbose", "maybe", err, sizeof(err)), -1);
	CHECK_EQ(config_set(&c, "server", "workers", "99999999999", err, sizeof(err)), -1);

	config_defaults(&c);
	CHECK_EQ(config_set(&c, "server", "listen", "localhost", err, sizeof(err)), 0);
	CHECK_EQ(config_finish(&c, err, sizeof(err)), -1);
	CHECK(strstr(err, "host:port"));
	config_defaults(&c);
	CHECK_EQ(config_set(&c, "server", "issuer", "http://plain", err, sizeof(err)), 0);
	CHECK_EQ(config_finish(&c, err, sizeof(err)), -1);
	CHECK(strstr(err, "https"));
	config_defaults(&c);
	CHECK_EQ(config_set(&c, "hsm", "threads", "0", err, sizeof(err)), 0);
	CHECK_EQ(config_finish(&c, err, sizeof(err)), -1);
	config_defaults(&c);
	CHECK_EQ(config_set(&c, "server", "max_head", "10", err, sizeof(err)), 0);
	CHECK_EQ(config_finish(&c, err, sizeof(err)), -1);

	CHECK_EQ(config_parse_hostport("127.0.0.1:8443", host, sizeof(host), &port), 0);
	CHECK_STR(host, "127.0.0.1");
	CHECK_EQ(port, 8443);
	CHECK_EQ(config_parse_hostport("[::1]:9", host, sizeof(host), &port), 0);
	CHECK_STR(host, "::1");
	CHECK_EQ(config_parse_hostport("1.2.3.4:0", host, sizeof(host), &port), -1);
	CHECK_EQ(config_parse_hostport("1.2.3.4:65536", host, sizeof(host), &port), -1);
	CHECK_EQ(config_parse_hostport(":80", host, sizeof(host), &port), -1);
	CHECK_EQ(config_parse_hostport("[::1]80", host, sizeof(host), &port), -1);
	return check_done("config");
}
