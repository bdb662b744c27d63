/*
 * Runs a libFuzzer harness without libFuzzer: each argument is a file or a
 * directory of files fed once to LLVMFuzzerTestOneInput. `make check` uses
 * it to replay the corpus (and past crashes) under ASan/UBSan with gcc;
 * `make fuzz` builds the same harnesses with clang -fsanitize=fuzzer.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define STANDALONE_MAX_INPUT (4 * 1024 * 1024)

static int
standalone_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t n;

	if (f == NULL) {
		perror(path);
		return -1;
	}
	if ((buf = malloc(STANDALONE_MAX_INPUT)) == NULL) {
		fclose(f);
		return -1;
	}
	n = fread(buf, 1, STANDALONE_MAX_INPUT, f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

int
main(int argc, char **argv)
{
	int runs = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		DIR *d;
		struct dirent *de;

		if (stat(argv[i], &st) == -1) {
			perror(argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (standalone_file(argv[i]) == -1)
				return 1;
			runs++;
			continue;
		}
		if ((d = opendir(argv[i])) == NULL)
			return 1;
		while ((de = readdir(d)) != NULL) {
			char path[4096];

			if (de->d_name[0] == '.')
				continue;
			if (snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name) >=
			    (int)sizeof(path))
				continue;
			if (standalone_file(path) == -1) {
				closedir(d);
				return 1;
			}
			runs++;
		}
		closedir(d);
	}
	printf("%d inputs replayed\n", runs);
	return runs > 0 ? 0 : 1;
}
