/*
 * config_test.c - settings: defaults, INI files, overrides, and every
 * rejection with its message.
 */
#include <stdlib.h>
#include <unistd.h>

#include "../../common/config.h"
#include "check.h"

static int load_bytes(struct config *c, const char *text, size_t len,
		      char *err, size_t n)
{
	char path[] = "/tmp/idgate-config-XXXXXX";
	int fd = mkstemp(path), rc;

	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
		return -2;
	close(fd);
	rc = config_load(c, path, err, n);
	unlink(path);
	return rc;
}

static int load_text(struct config *c, const char *text, char *err, size_t n)
{
	return load_bytes(c, text, strlen(text), err, n);
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

	/* inih's buffer holds 200 bytes a line: a longer line is refused
	 * whole, not cut in two with the rest read as a line of its own (here
	 * a setting, which used to pass), and the line numbers stay true. */
	{
		char text[600];

		config_defaults(&c);
		snprintf(text, sizeof(text), "[server]\nworkers = 2\nstate_dir = /%0*d"
			 "max_conns = 7\n", 186, 0);
		CHECK_EQ(load_text(&c, text, err, sizeof(err)), -1);
		CHECK(strstr(err, "line 3 of ") && strstr(err, " is longer than 198 bytes"));
		CHECK_EQ(c.max_conns, 10000);
		snprintf(text, sizeof(text), "[server]\nstate_dir = /%0*d\n", 185, 0);
		CHECK_EQ(load_text(&c, text, err, sizeof(err)), 0);
		CHECK_EQ(strlen(c.state_dir), 186);
		snprintf(text, sizeof(text), "[server]\nstate_dir = /%0*d\nworkers = x\n",
			 186, 0);
		CHECK_EQ(load_text(&c, text, err, sizeof(err)), -1);
		CHECK(strstr(err, "line 2 of "));
		CHECK_EQ(load_bytes(&c, "[server]\nworkers = 2\0 junk\n", 27, err,
				    sizeof(err)), -1);
		CHECK(strstr(err, "line 2 of ") && strstr(err, "holds a NUL byte"));

		/* A reason quoting a long name keeps the place: it is shortened. */
		snprintf(text, sizeof(text), "[server]\nworkers = 2\n%0*d = 1\n", 190, 0);
		CHECK_EQ(load_text(&c, text, err, 120), -1);
		CHECK_EQ(strlen(err), 119);
		CHECK(!strncmp(err, "unknown setting server.000", 26));
		CHECK(strstr(err, "... (in /tmp/idgate-config-") && strstr(err, ", line 3)"));
	}
	CHECK_EQ(config_set(&c, "server", "poll", "sometimes", err, sizeof(err)), -1);
	CHECK_EQ(config_set(&c, "server", "max_conns", "-1", err, sizeof(err)), -1);
	CHECK_EQ(config_set(&c, "server", "rate_limit", "-5", err, sizeof(err)), -1);
	CHECK_EQ(config_set(&c, "tls", "min_version", "1.1", err, sizeof(err)), -1);
	CHECK_EQ(config_set(&c, "server", "verbose", "maybe", err, sizeof(err)), -1);
	CHECK_EQ(config_set(&c, "server", "workers", "99999999999", err, sizeof(err)), -1);

	/* tls.groups and tls.ciphersuites: the defaults, lists as written,
	 * and every refusal naming the entry and why. */
	config_defaults(&c);
	CHECK_EQ(c.tls_groups.n, 2);
	CHECK(c.tls_groups.id[0] == 0x001d && c.tls_groups.id[1] == 0x0017);
	CHECK_EQ(c.tls_suites.n, 9);
	CHECK(c.tls_suites.id[0] == 0x1301 && c.tls_suites.id[1] == 0x1302 &&
	      c.tls_suites.id[2] == 0x1303 && c.tls_suites.id[3] == 0xc02b);
	CHECK_EQ(config_finish(&c, err, sizeof(err)), 0);
	CHECK_EQ(load_text(&c, "[tls]\ngroups = secp384r1, X25519\n"
			   "ciphersuites = TLS_CHACHA20_POLY1305_SHA256 , "
			   "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\n", err, sizeof(err)), 0);
	CHECK(c.tls_groups.n == 2 && c.tls_groups.id[0] == 0x0018 && c.tls_groups.id[1] == 0x001d);
	CHECK(c.tls_suites.n == 2 && c.tls_suites.id[0] == 0x1303 &&
	      c.tls_suites.id[1] == 0xc02c);
	CHECK_EQ(config_finish(&c, err, sizeof(err)), 0);
	{
		static const struct { const char *name, *value, *says; } bad[] = {
			{ "groups", "ffdhe2048", "tls.groups: ffdhe2048 is a finite-field group; "
			  "only x25519, secp256r1, secp384r1" },
			{ "groups", "x25519,ffdhe8192", "ffdhe8192 is a finite-field group" },
			{ "groups", "FFDHE3072", "FFDHE3072 is a finite-field group" },
			{ "groups", "x448", "tls.groups: x448 is not a group idgated offers" },
			{ "groups", "P-256", "P-256 is not a group" },
			{ "groups", "", "tls.groups: the list is empty" },
			{ "groups", "  ", "tls.groups: the list is empty" },
			{ "groups", "x25519,", "tls.groups: an empty entry" },
			{ "groups", ",x25519", "tls.groups: an empty entry" },
			{ "groups", "x25519,,secp256r1", "tls.groups: an empty entry" },
			{ "groups", "x25519,secp256r1,X25519", "X25519 is listed twice" },
			{ "ciphersuites", "", "tls.ciphersuites: the list is empty" },
			{ "ciphersuites", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
			  "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256 is not AEAD" },
			{ "ciphersuites", "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "is not AEAD" },
			{ "ciphersuites", "TLS_RSA_WITH_AES_128_GCM_SHA256",
			  "static RSA key transport: no forward secrecy" },
			{ "ciphersuites", "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256",
			  "static (EC)DH: no forward secrecy" },
			{ "ciphersuites", "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
			  "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256 uses finite-field DHE" },
			{ "ciphersuites", "TLS_PSK_WITH_AES_128_GCM_SHA256", "is a PSK suite" },
			{ "ciphersuites", "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256",
			  "is a PSK suite" },
			{ "ciphersuites", "TLS_ECDHE_ECDSA_WITH_NULL_SHA", "encrypts nothing" },
			{ "ciphersuites", "TLS_AES_128_CCM_8_SHA256", "truncated 8-byte tag" },
			{ "ciphersuites", "ECDHE-ECDSA-AES128-GCM-SHA256",
			  "is not a cipher suite idgated knows (IANA names" },
			{ "ciphersuites", "TLS_AES_128_GCM_SHA256,TLS_AES_128_GCM_SHA256",
			  "listed twice" },
			{ "ciphersuites", "TLS_AES_128_GCM_SHA256,,TLS_AES_256_GCM_SHA384",
			  "an empty entry" },
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			config_defaults(&c);
			CHECK_EQ(config_set(&c, "tls", bad[i].name, bad[i].value, err,
					    sizeof(err)), -1);
			CHECK(strstr(err, bad[i].says));
		}
	}
	/* Each TLS version enabled needs a suite of its own. */
	config_defaults(&c);
	CHECK_EQ(config_set(&c, "tls", "ciphersuites", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
			    err, sizeof(err)), 0);
	CHECK_EQ(config_finish(&c, err, sizeof(err)), -1);
	CHECK(strstr(err, "tls.ciphersuites lists no TLS 1.3 suite"));
	config_defaults(&c);
	CHECK_EQ(config_set(&c, "tls", "ciphersuites", "TLS_AES_256_GCM_SHA384", err,
			    sizeof(err)), 0);
	CHECK_EQ(config_finish(&c, err, sizeof(err)), -1);
	CHECK(strstr(err, "tls.ciphersuites lists no TLS 1.2 suite"));
	CHECK_EQ(config_set(&c, "tls", "min_version", "1.3", err, sizeof(err)), 0);
	CHECK_EQ(config_finish(&c, err, sizeof(err)), 0);
	/* A refusal in an INI file names the file's line. */
	config_defaults(&c);
	CHECK_EQ(load_text(&c, "[tls]\nmin_version = 1.2\ngroups = x25519,ffdhe4096\n", err,
			   sizeof(err)), -1);
	CHECK(strstr(err, "ffdhe4096 is a finite-field group") && strstr(err, "line 3"));

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

	/* Every timeout and the per-credential rate. */
	config_defaults(&c);
	CHECK_EQ(c.send_timeout_ms, 10000);
	CHECK_EQ(c.linger_timeout_ms, 2000);
	CHECK_EQ(c.admin_body_timeout_ms, 120000);
	CHECK_EQ(c.credential_burst, 10);
	CHECK_EQ(c.credential_interval_ms, 2000);
	{
		static const char *const zero[] = {
			"handshake_timeout_ms", "header_timeout_ms", "idle_timeout_ms",
			"send_timeout_ms", "linger_timeout_ms", "admin_body_timeout_ms",
		};

		for (size_t i = 0; i < sizeof(zero) / sizeof(zero[0]); i++) {
			config_defaults(&c);
			CHECK_EQ(config_set(&c, "server", zero[i], "0", err, sizeof(err)), 0);
			CHECK_EQ(config_finish(&c, err, sizeof(err)), -1);
			CHECK(strstr(err, zero[i]) && strstr(err, "positive"));
		}
	}
	config_defaults(&c);
	CHECK_EQ(config_set(&c, "login", "credential_burst", "0", err, sizeof(err)), 0);
	CHECK_EQ(config_finish(&c, err, sizeof(err)), -1);
	CHECK(strstr(err, "credential_burst"));
	config_defaults(&c);
	CHECK_EQ(config_set(&c, "login", "credential_burst", "256", err, sizeof(err)), 0);
	CHECK_EQ(config_finish(&c, err, sizeof(err)), -1);
	config_defaults(&c);
	CHECK_EQ(config_set(&c, "login", "credential_interval_ms", "0", err, sizeof(err)), 0);
	CHECK_EQ(config_finish(&c, err, sizeof(err)), -1);
	CHECK(strstr(err, "credential_interval_ms"));

	/* The backend and the [dpdk] section. */
	config_defaults(&c);
	CHECK_EQ(c.backend, BACKEND_IO_URING);
	CHECK_STR(c.dpdk_eal_args, "");
	CHECK_EQ(c.dpdk_port, 0);
	CHECK_EQ(c.dpdk_mtu, 1500);
	CHECK_EQ(c.dpdk_rcvbuf, 32768);
	CHECK_EQ(c.dpdk_sndbuf, 65536);
	CHECK_EQ(c.dpdk_syn_backlog, 1024);
	CHECK_EQ(c.dpdk_time_wait, 65536);
	CHECK_EQ(c.dpdk_time_wait_ms, 60000);
	CHECK_STR(c.dpdk_fault, "");
	CHECK_EQ(config_finish(&c, err, sizeof(err)), 0);
	CHECK_EQ(c.dpdk_fault_spec.on, 0);

	config_defaults(&c);
	CHECK_EQ(load_text(&c, "[server]\nbackend = dpdk\nlisten = 198.18.0.2:8443\n"
			   "[dpdk]\neal_args = --no-huge --no-pci -m 512 --no-shconf "
			   "--vdev=net_tap0,iface=igtap0\nport = 1\nmtu = 9000\nrcvbuf = 4096\n"
			   "sndbuf = 1048576\nsyn_backlog = 16\ntime_wait = 100\n"
			   "time_wait_ms = 1000\nfault = seed=7,drop=0.05,dup=0.02,reorder=0.05\n",
			   err, sizeof(err)), 0);
	CHECK_EQ(c.backend, BACKEND_DPDK);
	CHECK_EQ(c.dpdk_port, 1);
	CHECK_EQ(c.dpdk_mtu, 9000);
	CHECK_EQ(config_finish(&c, err, sizeof(err)), 0);
	CHECK_EQ(c.dpdk_ip, 0xc6120002u);
	CHECK_EQ(c.dpdk_tcp_port, 8443);
	CHECK_EQ(c.dpdk_fault_spec.on, 1);
	CHECK_EQ(c.dpdk_fault_spec.seed, 7);
	CHECK(c.dpdk_fault_spec.drop == 0.05 && c.dpdk_fault_spec.dup == 0.02 &&
	      c.dpdk_fault_spec.reorder == 0.05);
	CHECK_STR(c.issuer, "https://198.18.0.2:8443");

	CHECK_EQ(config_set(&c, "server", "backend", "netmap", err, sizeof(err)), -1);
	CHECK(strstr(err, "server.backend") && strstr(err, "io_uring or dpdk"));
	CHECK_EQ(config_set(&c, "dpdk", "port", "-1", err, sizeof(err)), -1);
	CHECK(strstr(err, "dpdk.port"));
	CHECK_EQ(config_set(&c, "dpdk", "nonsense", "1", err, sizeof(err)), -1);
	CHECK(strstr(err, "unknown setting dpdk.nonsense"));

	/* Each [dpdk] value out of range, with a message naming it. */
	{
		static const struct { const char *name, *value, *says; } bad[] = {
			{ "port", "65536", "dpdk.port" },
			{ "mtu", "575", "dpdk.mtu" },
			{ "mtu", "9001", "dpdk.mtu" },
			{ "rcvbuf", "5000", "dpdk.rcvbuf" },
			{ "rcvbuf", "2048", "dpdk.rcvbuf" },
			{ "sndbuf", "2147483648", "dpdk.sndbuf" },
			{ "syn_backlog", "0", "dpdk.syn_backlog" },
			{ "time_wait", "0", "dpdk.time_wait" },
			{ "time_wait_ms", "99", "dpdk.time_wait_ms" },
			{ "time_wait_ms", "240001", "dpdk.time_wait_ms" },
			{ "fault", "drop=2", "drop must be a probability" },
			{ "fault", "drop=nan", "drop must be a probability" },
			{ "fault", "dup=-0.1", "dup must be a probability" },
			{ "fault", "reorder=0.5x", "reorder must be a probability" },
			{ "fault", "loss=0.1", "unknown name \"loss\"" },
			{ "fault", "drop", "not name=value" },
			{ "fault", "seed=x,drop=0.1", "seed must be" },
			{ "fault", "seed=-1", "seed must be" },
			{ "fault", "drop=0.6,dup=0.3,reorder=0.2", "must not exceed 1" },
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			config_defaults(&c);
			CHECK_EQ(config_set(&c, "dpdk", bad[i].name, bad[i].value, err,
					    sizeof(err)), 0);
			CHECK_EQ(config_finish(&c, err, sizeof(err)), -1);
			CHECK(strstr(err, bad[i].says));
		}
	}
	config_defaults(&c);
	{
		char many[512] = "";

		for (int i = 0; i < 64; i++)
			strcat(many, "-v ");
		CHECK_EQ(config_set(&c, "dpdk", "eal_args", many, err, sizeof(err)), 0);
		CHECK_EQ(config_finish(&c, err, sizeof(err)), -1);
		CHECK(strstr(err, "dpdk.eal_args"));
	}

	/* backend dpdk: listen is the stack's own unicast IPv4 address. */
	{
		static const char *const bad_listen[] = {
			"[::1]:8443", "0.0.0.0:8443", "127.0.0.1:8443", "255.255.255.255:80",
			"224.0.0.1:80",
		};

		for (size_t i = 0; i < sizeof(bad_listen) / sizeof(bad_listen[0]); i++) {
			config_defaults(&c);
			CHECK_EQ(config_set(&c, "server", "backend", "dpdk", err, sizeof(err)), 0);
			CHECK_EQ(config_set(&c, "server", "listen", bad_listen[i], err,
					    sizeof(err)), 0);
			CHECK_EQ(config_finish(&c, err, sizeof(err)), -1);
			CHECK(strstr(err, "server.listen") && strstr(err, "IPv4"));
		}
	}
	/* The same addresses are fine for io_uring (the kernel's sockets). */
	config_defaults(&c);
	CHECK_EQ(config_set(&c, "server", "listen", "0.0.0.0:8443", err, sizeof(err)), 0);
	CHECK_EQ(config_finish(&c, err, sizeof(err)), 0);

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
