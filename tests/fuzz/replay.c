/*
 * replay.c - run a libFuzzer target without libFuzzer.
 *
 * Linked with any tests/fuzz/fuzz_NAME.c, it calls LLVMFuzzerTestOneInput
 * once per regular file named on the command line or found directly inside
 * a directory named there, each file in a malloc'd buffer of its exact size
 * (so ASan sees over-reads as libFuzzer would), and prints
 * "replayed N inputs from ARG" per argument.  Arguments starting with '-'
 * (libFuzzer flags) are ignored.  Exits 0, or 1 if an argument or file
 * could not be read; a crashing input crashes the driver, as it should.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target, as in libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Read all of <path> into a fresh exact-size buffer; 0 or -1. */
static int replay_read(const char *path, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *buf;

	if (!f)
		return -1;
	if (fstat(fileno(f), &st) || st.st_size < 0) {
		fclose(f);
		return -1;
	}
	*len = (size_t)st.st_size;
	buf = malloc(*len ? *len : 1);
	if (!buf || fread(buf, 1, *len, f) != *len) {
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	*out = buf;
	return 0;
}

static int replay_file(const char *path)
{
	uint8_t *buf;
	size_t len;

	if (replay_read(path, &buf, &len)) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

/* Replay the regular files directly in <dir>; count them in *n. */
static int replay_dir(const char *dir, long *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;

	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		char *path;

		if (e->d_name[0] == '.')
			continue;
		if (asprintf(&path, "%s/%s", dir, e->d_name) < 0) {
			rc = -1;
			break;
		}
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (replay_file(path))
				rc = -1;
			else
				(*n)++;
		}
		free(path);
	}
	closedir(d);
	return rc;
}

int main(int argc, char **argv)
{
	int i, status = 0;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		struct stat st;
		long n = 0;
		int rc;

		if (argv[i][0] == '-')
			continue;
		if (stat(argv[i], &st)) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
				strerror(errno));
			status = 1;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			rc = replay_dir(argv[i], &n);
		} else {
			rc = replay_file(argv[i]);
			n = rc ? 0 : 1;
		}
		if (rc)
			status = 1;
		printf("replayed %ld inputs from %s\n", n, argv[i]);
	}
	return status;
}
