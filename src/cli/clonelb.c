/* clonelb.c: the shell's entry point: flags, scripts (-c, -f), the interactive libedit loop. */
#include <editline/readline.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/http.h"
#include "lib/util.h"

#define DEFAULT_SOCKET "/run/clonelb/clonelb.sock"

struct source {
	char kind; /* 'c': a command, 'f': a file ("-": standard input) */
	const char *text;
};

static void usage(FILE *o)
{
	fputs("usage: clonelb [--socket PATH] [--tenant NAME] [-c COMMAND]... [-f FILE]... "
	      "[--json] [--echo]\n"
	      "       clonelb --controller https://HOST:PORT [--user NAME] [--token-file FILE]\n"
	      "               [--ca FILE] [--insecure] [the options above]\n"
	      "  no -c/-f: interactive shell (standard input when it is not a terminal)\n"
	      "  -c COMMAND  run one command line (repeatable; one session, in order)\n"
	      "  -f FILE     run the command lines of FILE ('-': standard input)\n"
	      "  --json      show prints the API's JSON instead of tables\n"
	      "  --echo      print each command with its prompt before running it\n"
	      "  --socket    clonelbd's API socket (default " DEFAULT_SOCKET ")\n"
	      "  --tenant    tenant of every request (default admin)\n"
	      "  --controller URL  log in to a remote clonelbd's HTTPS API instead of the socket\n"
	      "  --user NAME       user to log in as (default admin); the password comes from\n"
	      "                    $CLONELB_PASSWORD, else it is asked on the terminal\n"
	      "  --token-file FILE log in with the API token in FILE (or $CLONELB_TOKEN)\n"
	      "  --ca FILE         CA certificates that verify the controller (default: the system's)\n"
	      "  --insecure        do not verify the controller's certificate\n"
	      "exit status: 0 when every command succeeded, 1 otherwise\n",
	      o);
}

/*
 * Asks for @user's password on the terminal, without echo. Returns it
 * (caller frees), or NULL with *ret_err when there is no terminal.
 */
static char *ask_password(const char *url, const char *user, char **ret_err)
{
	FILE *tty = fopen("/dev/tty", "r+");
	struct termios old, quiet;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!tty) {
		*ret_err = xasprintf("no password for '%s': set CLONELB_PASSWORD, use --token-file, "
				     "or run on a terminal",
				     user);
		return NULL;
	}
	/* Echo off before the prompt: what is typed once it shows is never echoed. */
	tcgetattr(fileno(tty), &old);
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	fprintf(tty, "Password for %s at %s: ", user, url);
	fflush(tty);
	n = getline(&line, &cap, tty);
	tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputc('\n', tty);
	fclose(tty);
	if (n < 0) {
		free(line);
		*ret_err = xasprintf("no password for '%s' entered", user);
		return NULL;
	}
	line[strcspn(line, "\r\n")] = 0;
	return line;
}

/* The first line of @path: the API token of --token-file. */
static char *read_token(const char *path, char **ret_err)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;

	if (!f) {
		*ret_err = xasprintf("--token-file: cannot open '%s': %s", path, strerror(errno));
		return NULL;
	}
	if (getline(&line, &cap, f) < 0) {
		free(line);
		line = NULL;
	}
	fclose(f);
	if (line)
		line[strcspn(line, "\r\n")] = 0;
	if (!line || !*line) {
		free(line);
		*ret_err = xasprintf("--token-file: '%s' is empty", path);
		return NULL;
	}
	return line;
}

/* Logs in to --controller @r->url: the token, else the password (env, terminal). */
static int open_remote(struct cli_remote *r, const char *token_file, struct cli_http **ret,
		       char **ret_err)
{
	char *token = NULL, *pw = NULL;
	const char *env_token = getenv("CLONELB_TOKEN"), *env_pw = getenv("CLONELB_PASSWORD");
	int rc;

	if (token_file) {
		token = read_token(token_file, ret_err);
		if (!token)
			return -EINVAL;
	} else if (env_token && *env_token) {
		token = xstrdup(env_token);
	} else if (env_pw && *env_pw) {
		pw = xstrdup(env_pw);
	} else {
		pw = ask_password(r->url, r->user, ret_err);
		if (!pw)
			return -EINVAL;
	}
	r->token = token;
	r->password = pw;
	rc = cli_http_open_remote(r, ret, ret_err);
	if (token)
		explicit_bzero(token, strlen(token));
	if (pw)
		explicit_bzero(pw, strlen(pw));
	free(token);
	free(pw);
	r->token = r->password = NULL;
	return rc;
}

/* Runs one line of a script, echoing it first when asked to. */
static void run_line(struct cli_shell *sh, const char *line, bool echo, const char *where)
{
	unsigned before = sh->failed;

	if (echo) {
		char *p = cli_shell_prompt(sh);
		fprintf(sh->out, "%s%s\n", p, line);
		free(p);
	}
	cli_shell_exec(sh, line);
	if (sh->failed != before && where) {
		fprintf(sh->err, "  at %s: %s\n", where, line);
		fflush(sh->err);
	}
}

static int run_file(struct cli_shell *sh, const char *name, bool echo)
{
	FILE *f = strcmp(name, "-") ? fopen(name, "r") : stdin;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned lineno = 0;

	if (!f) {
		fprintf(sh->err, "Error: cannot open '%s': %s\n", name, strerror(errno));
		sh->failed++;
		return -errno;
	}
	while (!sh->quit && (n = getline(&line, &cap, f)) >= 0) {
		char where[512];
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = 0;
		snprintf(where, sizeof(where), "%s line %u", f == stdin ? "<stdin>" : name, lineno);
		run_line(sh, line, echo, where);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	return 0;
}

/* ---- interactive ---- */

static volatile sig_atomic_t got_sigint;

/* Ctrl-C drops the line being typed, not the shell and its unsaved modes. */
static void on_sigint(int sig)
{
	(void)sig;
	got_sigint = 1;
}

static struct cli_shell *rl_shell;
static char **rl_words;
static int rl_next;

static char *rl_generator(const char *text, int state)
{
	(void)text;
	if (!rl_words || !rl_words[rl_next])
		return NULL;
	(void)state;
	return strdup(rl_words[rl_next++]);
}

static char **rl_complete_cb(const char *text, int start, int end)
{
	char *upto = strndup(rl_line_buffer, (size_t)end);
	size_t wordlen;

	(void)start;
	rl_attempted_completion_over = 1;
	cli_argv_free(rl_words);
	rl_words = NULL;
	rl_next = 0;
	cli_complete(rl_shell, upto, &rl_words, &wordlen);
	free(upto);
	return rl_completion_matches(text, rl_generator);
}

static void run_interactive(struct cli_shell *sh)
{
	const char *home = getenv("HOME");
	char *hist = home ? xasprintf("%s/.clonelb_history", home) : NULL;
	struct sigaction sa = {0};
	char *line;

	rl_shell = sh;
	rl_readline_name = "clonelb";
	rl_attempted_completion_function = rl_complete_cb;
	/* Values hold ':' '/' '@' '=': only blanks separate words. */
	rl_completer_word_break_characters = " \t";
	using_history();
	stifle_history(1000);
	if (hist)
		read_history(hist);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_sigint;
	sigaction(SIGINT, &sa, NULL);
	for (;;) {
		char *prompt = cli_shell_prompt(sh);
		got_sigint = 0;
		line = readline(prompt);
		free(prompt);
		if (!line && got_sigint) {
			fputc('\n', sh->out);
			continue;
		}
		if (!line)
			break;
		if (line[strspn(line, " \t")])
			add_history(line);
		cli_shell_exec(sh, line);
		free(line);
		if (sh->quit)
			break;
	}
	if (!line)
		fputc('\n', sh->out);
	if (hist)
		write_history(hist);
	free(hist);
	cli_argv_free(rl_words);
	rl_words = NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'}, {"tenant", required_argument, NULL, 't'},
	    {"json", no_argument, NULL, 'j'},	      {"echo", no_argument, NULL, 'e'},
	    {"help", no_argument, NULL, 'h'},	      {"controller", required_argument, NULL, 'C'},
	    {"user", required_argument, NULL, 'u'},   {"token-file", required_argument, NULL, 'T'},
	    {"ca", required_argument, NULL, 'A'},     {"insecure", no_argument, NULL, 'k'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_remote remote = {.user = "admin"};
	const char *token_file = NULL;
	const char *socket_path = DEFAULT_SOCKET, *tenant = "admin";
	struct source *src = xcalloc((size_t)argc, sizeof(*src));
	bool json = false, echo = false;
	struct cli_http *http = NULL;
	struct cli_backend be;
	struct cli_shell *sh;
	char *err = NULL;
	int nsrc = 0, c, status;

	while ((c = getopt_long(argc, argv, "c:f:s:t:jeh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
		case 'f':
			src[nsrc].kind = (char)c;
			src[nsrc++].text = optarg;
			break;
		case 's':
			socket_path = optarg;
			break;
		case 't':
			tenant = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'e':
			echo = true;
			break;
		case 'C':
			remote.url = optarg;
			break;
		case 'u':
			remote.user = optarg;
			break;
		case 'T':
			token_file = optarg;
			break;
		case 'A':
			remote.ca_file = optarg;
			break;
		case 'k':
			remote.insecure = true;
			break;
		case 'h':
			usage(stdout);
			free(src);
			return 0;
		default:
			usage(stderr);
			free(src);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "clonelb: unexpected argument '%s' (commands go in -c)\n",
			argv[optind]);
		usage(stderr);
		free(src);
		return 2;
	}
	if (!remote.url && (token_file || remote.ca_file || remote.insecure)) {
		fprintf(stderr, "clonelb: --token-file, --ca and --insecure need --controller\n");
		free(src);
		return 2;
	}
	if (remote.url ? open_remote(&remote, token_file, &http, &err) < 0
		       : cli_http_open(socket_path, &http, &err) < 0) {
		fprintf(stderr, "Error: %s\n", err);
		free(err);
		free(src);
		return 1;
	}
	be.request = cli_http_request;
	be.ctx = http;
	sh = cli_shell_new(&be, stdout, stderr, tenant);
	sh->json = json;
	if (nsrc == 0 && isatty(STDIN_FILENO)) {
		run_interactive(sh);
	} else {
		sh->batch = true;
		if (nsrc == 0)
			src[nsrc++] = (struct source){'f', "-"};
		for (int i = 0; i < nsrc && !sh->quit; i++) {
			if (src[i].kind == 'f') {
				run_file(sh, src[i].text, echo);
			} else {
				char where[64];
				snprintf(where, sizeof(where), "-c #%d", i + 1);
				run_line(sh, src[i].text, echo, where);
			}
		}
	}
	cli_shell_finish(sh);
	status = sh->failed ? 1 : 0;
	cli_shell_free(sh);
	cli_http_close(http);
	free(src);
	return status;
}
