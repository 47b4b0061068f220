/* client/wharf.c - `wharf`: global options, the verb table, help.
 *
 *   wharf [--root DIR] [--quiet] [--insecure] VERB [ARGS...]
 *   wharf help [VERB] | wharf VERB --help | wharf --version
 *
 * Global options may come before or after the verb (up to a "--"); main
 * takes them out of argv before the verb parses its own options. The store
 * root is --root, else $WHARF_ROOT, else /var/lib/wharf for root and
 * $XDG_DATA_HOME/wharf (~/.local/share/wharf) for everyone else.
 * Each verb lives in client/cmd_<verb>.c and returns its exit status.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/cli.h"
#include "common/cleanup.h"

static const struct cli_verb verbs[] = {
    {"pull", "download an image from a registry into the local store",
     "usage: wharf pull [--platform OS/ARCH[/VARIANT]] REF\n"
     "\n"
     "Resolves REF (a tag defaults to \"latest\", a name without a registry to\n"
     "docker.io) and downloads the manifest, the config and the layers the local\n"
     "store does not have yet, in parallel, verifying every size and digest while\n"
     "streaming. For an image index the host's platform is chosen (or --platform).\n"
     "A dropped transfer resumes where it stopped, also across a re-run. The image\n"
     "appears in \"wharf images\" only once everything is stored.\n"
     "\n"
     "  --platform P   os/arch[/variant] to pick from an index (default: this host)\n",
     cli_cmd_pull},
    {"push", "upload a local image to its registry",
     "usage: wharf push [--all-tags] REF\n"
     "\n"
     "Uploads the local image REF to the registry its name points at: blobs the\n"
     "registry already has are skipped, the rest are uploaded in parallel\n"
     "(monolithic when small, chunked when big), then the manifest (for an index,\n"
     "every child first).\n"
     "\n"
     "  -a, --all-tags   push every local tag of the repository REF\n",
     cli_cmd_push},
    {"tag", "give a local image another name",
     "usage: wharf tag SOURCE TARGET\n"
     "\n"
     "Points TARGET (a tag, possibly in another repository) at the image SOURCE\n"
     "names. No bytes are copied; the move is recorded in the tag's history.\n",
     cli_cmd_tag},
    {"untag", "remove a local tag (the image stays)",
     "usage: wharf untag REF...\n"
     "\n"
     "Removes the tags; the images they pointed at stay (see \"wharf rmi\").\n",
     cli_cmd_untag},
    {"images", "list local images",
     "usage: wharf images [--format table|json] [REPOSITORY]\n"
     "\n"
     "Lists tagged local images: repository, tag, digest, size (config and\n"
     "layers, compressed) and creation time (from the image config).\n",
     cli_cmd_images},
    {"inspect", "print an image's manifest and config",
     "usage: wharf inspect [--remote] [--platform P] [--raw] REF\n"
     "\n"
     "Prints a JSON object with the digest, media type, manifest and config of\n"
     "REF (for an index: the index and the chosen platform's manifest and config).\n"
     "\n"
     "  --remote       ask the registry instead of the local store\n"
     "  --platform P   platform to pick from an index\n"
     "  --raw          print only the manifest's exact bytes\n",
     cli_cmd_inspect},
    {"rmi", "remove local images",
     "usage: wharf rmi REF...\n"
     "\n"
     "Removes the manifest REF names from its repository, with every tag of that\n"
     "repository pointing at it; when REF is a tag and another tag names the same\n"
     "manifest, only that tag goes (as docker does). Blobs stay until they are\n"
     "garbage-collected.\n",
     cli_cmd_rmi},
    {"login", "store credentials for a registry",
     "usage: wharf login [-u USER] [-p PASSWORD | --password-stdin] HOST\n"
     "\n"
     "Checks the credentials against HOST's /v2/ (basic or bearer-token auth)\n"
     "and saves them in $WHARF_CONFIG or ~/.config/wharf/config.json (mode 0600,\n"
     "docker's format). Credentials from ~/.docker/config.json are also used.\n"
     "Without -p or --password-stdin the password is asked on the terminal.\n",
     cli_cmd_login},
    {"logout", "forget the credentials of a registry", "usage: wharf logout HOST\n", cli_cmd_logout},
};

static const char global_usage[] =
    "usage: wharf [--root DIR] [--quiet] [--insecure] VERB [ARGS...]\n"
    "\n"
    "global options:\n"
    "  --root DIR   local store (default $WHARF_ROOT, else /var/lib/wharf as root,\n"
    "               $XDG_DATA_HOME/wharf otherwise)\n"
    "  --quiet      print only the result (a digest)\n"
    "  --insecure   talk plain HTTP to every registry (localhost and 127.0.0.1\n"
    "               always are; see also \"insecure_registries\" in config.json)\n"
    "\n"
    "exit status: 0 ok, 1 failed, 2 usage, 3 not found, 4 unauthorized or denied,\n"
    "5 network, 6 digest mismatch\n"
    "\n"
    "verbs:\n";

const struct cli_verb *cli_verb_find(const char *name)
{
  for (size_t i = 0; i < WH_ARRAY_LEN(verbs); i++)
    if (strcmp(verbs[i].name, name) == 0)
      return &verbs[i];
  return NULL;
}

int cli_help(const char *verb)
{
  const struct cli_verb *v = verb ? cli_verb_find(verb) : NULL;

  if (verb && v == NULL)
    return cli_usage("help", "unknown verb \"%s\"", verb);
  if (v) {
    fputs(v->usage, stdout);
    return 0;
  }
  fputs(global_usage, stdout);
  for (size_t i = 0; i < WH_ARRAY_LEN(verbs); i++)
    printf("  %-9s %s\n", verbs[i].name, verbs[i].summary);
  printf("\nrun \"wharf help VERB\" for a verb's options\n");
  return 0;
}

/* The default root; path is a static buffer (lives as long as the program). */
static const char *default_root(void)
{
  static char path[PATH_MAX];
  const char *xdg = getenv("XDG_DATA_HOME");
  const char *home = getenv("HOME");
  const char *env = getenv("WHARF_ROOT");

  if (env && env[0])
    return env;
  if (geteuid() == 0)
    return "/var/lib/wharf";
  if (xdg && xdg[0] == '/')
    snprintf(path, sizeof(path), "%s/wharf", xdg);
  else if (home && home[0] == '/')
    snprintf(path, sizeof(path), "%s/.local/share/wharf", home);
  else
    return NULL;
  return path;
}

/* Takes the global options out of argv[first..argc) (up to "--"), keeping
 * the rest in order. Returns the new argc, or -1 after a usage error. */
static int take_globals(struct cli_opts *o, int first, int argc, char **argv)
{
  int w = first;

  for (int i = first; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      while (i < argc)
        argv[w++] = argv[i++];
      break;
    }
    if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
      o->quiet = true;
    } else if (strcmp(a, "--insecure") == 0) {
      o->insecure = true;
    } else if (strcmp(a, "--root") == 0) {
      if (i + 1 >= argc || argv[i + 1][0] == '\0')
        return cli_usage("wharf", "--root needs a directory"), -1;
      o->root = argv[++i];
    } else if (strncmp(a, "--root=", 7) == 0 && a[7]) {
      o->root = a + 7;
    } else {
      argv[w++] = argv[i];
    }
  }
  argv[w] = NULL;
  return w;
}

int main(int argc, char **argv)
{
  struct cli_opts o = {0};
  const struct cli_verb *v;
  int n;

  n = take_globals(&o, 1, argc, argv);
  if (n < 0)
    return CLI_EXIT_USAGE;
  if (n < 2)
    return cli_help(NULL), CLI_EXIT_USAGE;
  if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0)
    return printf("wharf %s\n", PACKAGE_VERSION), 0;
  if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
    return cli_help(n > 2 ? argv[2] : NULL);
  if ((v = cli_verb_find(argv[1])) == NULL)
    return cli_usage("wharf", "unknown verb \"%s\"", argv[1]);
  if (o.root == NULL && (o.root = default_root()) == NULL)
    return cli_usage("wharf", "no store root: set --root, WHARF_ROOT or HOME");
  o.tty = isatty(STDERR_FILENO) == 1;
  return v->run(&o, n - 1, argv + 1);
}
