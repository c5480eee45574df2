/* fuzz_cli_line.c: libFuzzer target for the shell's tokenizer, grammar, modes and completion. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/inproc.h"
#include "cli/cli.h"

/*
 * The input is a script: one command per line. The first byte picks batch
 * (-f) or interactive rules and --json. Every line is also completed at every
 * length up to 64 bytes, as Tab would at that cursor position. Each input
 * runs against a fresh in-memory store through the real API routes.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct api_inproc *m;
	struct cli_backend be;
	struct cli_shell *sh;
	char *text, *line, *save = NULL;

	if (size == 0 || size > 64 * 1024)
		return 0;
	if (!devnull)
		devnull = fopen("/dev/null", "w");
	if (api_inproc_open(":memory:", &m, &text) < 0) {
		fprintf(stderr, "fuzz_cli_line: %s\n", text);
		abort();
	}
	be.request = api_inproc_request;
	be.ctx = m;
	sh = cli_shell_new(&be, devnull, devnull, NULL);
	sh->batch = data[0] & 1;
	sh->json = data[0] & 2;
	text = malloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = 0;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t len = strlen(line);
		for (size_t cut = 0; cut <= len && cut <= 64; cut++) {
			char *part = strndup(line, cut), **words = NULL, **typed = NULL;
			size_t wordlen = 0;
			int n = cli_complete(sh, part, &words, &wordlen), ntyped = 0;
			bool open = false;
			const char *last = "";
			if (cli_lex(part, true, &typed, &ntyped, &open, NULL) == 0 && open)
				last = typed[ntyped - 1];
			/* A candidate must extend the word typed so far. */
			if (wordlen != strlen(last))
				abort();
			for (int i = 0; i < n; i++)
				if (strncmp(words[i], last, wordlen) != 0)
					abort();
			cli_argv_free(typed);
			cli_argv_free(words);
			free(part);
		}
		char *prompt = cli_shell_prompt(sh);
		free(prompt);
		cli_shell_exec(sh, line);
		if (sh->quit)
			break;
	}
	cli_shell_finish(sh);
	cli_shell_free(sh);
	api_inproc_close(m);
	free(text);
	return 0;
}
