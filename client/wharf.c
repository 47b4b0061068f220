/* client/wharf.c - `wharf`: global options, the verb table, help.
 *
 *   wharf [--root DIR] [--quiet] [--insecure] [--tls-verify[=BOOL]] [--cert-dir DIR] VERB [ARGS...]
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
     "streaming. For an image index the host's platform is chosen (or --platform),\n"
     "looking into an index nested in it when the index itself has no match.\n"
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
     "every child first, a nested index included). A chunked upload that was\n"
     "interrupted (even by kill -9) goes on from where the registry got to when\n"
     "the push is run again. $WHARF_PUSH_CHUNK sets the chunk size in bytes\n"
     "(default 32 MiB; the registry's OCI-Chunk-Min-Length is honoured).\n"
     "\n"
     "  -a, --all-tags   push every local tag of the repository REF\n",
     cli_cmd_push},
    {"copy", "copy an image from one registry to another",
     "usage: wharf copy [--all] [--referrers] [--platform OS/ARCH[/VARIANT]] SOURCE DESTINATION\n"
     "\n"
     "Copies the image SOURCE names from its registry to DESTINATION without\n"
     "unpacking it and without the local store: each blob streams from one\n"
     "registry to the other, verified against its digest on the way (mounted\n"
     "instead when both repositories are on the same registry), blobs already\n"
     "there are skipped, and manifests are copied byte for byte, so every\n"
     "digest stays the same. For an image index: with --all, every platform and\n"
     "the index itself; otherwise only this host's platform (or --platform),\n"
     "stored at DESTINATION as that image's manifest.\n"
     "DESTINATION without a tag gets SOURCE's tag (or, by digest, its digest).\n"
     "\n"
     "  -a, --all      copy an index with all its platforms (nested indexes too)\n"
     "  -r, --referrers  also copy what the source's referrers API lists for each\n"
     "                 manifest copied (signatures, SBOMs), and their referrers\n"
     "  --platform P   os/arch[/variant] to pick from an index (default: this host)\n",
     cli_cmd_copy},
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
     "Lists local images: repository, tag, digest, size (manifest, config and\n"
     "layers, compressed) and creation time (from the image config). Images\n"
     "without a tag (pulled by digest, or left behind by a tag that moved) are\n"
     "listed with tag <none> (null in JSON).\n",
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
    {"history", "show how an image's layers were made",
     "usage: wharf history [--remote] [--platform P] [--no-trunc] [--format table|json] REF\n"
     "       wharf history --tags [--remote] [--format table|json] REF\n"
     "\n"
     "With --tags: who moved REF's tag when (as `wharf tag-history`).\n"
     "Prints the image config's history, newest first: when and by what command\n"
     "each step was made, its comment, and for the steps that made a layer, that\n"
     "layer's digest and size (as stored, compressed). Steps that made no layer\n"
     "show \"<empty layer>\". For an index: the chosen platform's image.\n"
     "\n"
     "  --remote       ask the registry instead of the local store\n"
     "  --platform P   platform to pick from an index (default: this host)\n"
     "  --no-trunc     full commands and digests\n"
     "  --format F     table (default) or json\n",
     cli_cmd_history},
    {"tag-history", "show who moved a tag when",
     "usage: wharf tag-history [--remote] [--format table|json] REF\n"
     "\n"
     "Prints every move of REF's tag, newest first: when, who, from which digest\n"
     "to which. Local store by default; with --remote the registry's history when\n"
     "it is wharfd (its _wharf extension), else this client's own push records.\n"
     "\n"
     "  --remote     ask the registry\n"
     "  --format F   table (default) or json\n",
     cli_cmd_tag_history},
    {"rollback", "move a tag back to an earlier image",
     "usage: wharf rollback [--remote] [--to DIGEST | --steps N] REF\n"
     "\n"
     "Moves REF's tag back N targets in its history (default 1: where it pointed\n"
     "before its last move; a second rollback undoes the first) or to DIGEST.\n"
     "Local store by default. With --remote: on wharfd one call to its rollback\n"
     "endpoint (atomic, recorded); on any other registry this client's own record\n"
     "of what it pushed: the earlier manifest is read back from the registry by\n"
     "digest and PUT by tag (refused when it is gone from the registry).\n"
     "Prints REPO:TAG: NEW (was OLD).\n"
     "\n"
     "  --remote     move the registry's tag\n"
     "  --to D       the target digest\n"
     "  --steps N    how many targets back (1 to 100000)\n",
     cli_cmd_rollback},
    {"tags", "list the tags of a repository",
     "usage: wharf tags [--remote] [-n N] [--format table|json] REPOSITORY\n"
     "\n"
     "Lists the tags of the local REPOSITORY, or with --remote those the\n"
     "registry has, page after page (each page N tags, following the registry's\n"
     "Link headers).\n"
     "\n"
     "  --remote            ask the registry\n"
     "  -n, --page-size N   tags per page asked (default 1000)\n"
     "  --format F          table (one tag per line, default) or json\n",
     cli_cmd_tags},
    {"rmi", "remove local images",
     "usage: wharf rmi REF...\n"
     "\n"
     "Removes the manifest REF names from its repository, with every tag of that\n"
     "repository pointing at it; when REF is a tag and another tag names the same\n"
     "manifest, only that tag goes (as docker does). Blobs stay until they are\n"
     "garbage-collected (\"wharf prune\").\n",
     cli_cmd_rmi},
    {"prune", "remove the blobs no local image uses",
     "usage: wharf prune [--grace SECONDS] [--dry-run]\n"
     "\n"
     "Removes from the local store the blobs that no image uses (no manifest is\n"
     "them or names them): layers and configs of removed images, of tags that\n"
     "moved on, of pulls that never finished; also downloads abandoned for\n"
     "longer than the grace period, and what a killed wharf left behind. Images\n"
     "themselves, tagged or not, stay (see \"wharf rmi\"). Safe while other\n"
     "wharf commands run: what is younger than the grace period is kept.\n"
     "\n"
     "  --grace SECONDS   keep what was stored or used this recently (default 3600)\n"
     "  -n, --dry-run     only say how much would go\n",
     cli_cmd_prune},
    {"run", "run a command in a new container",
     "usage: wharf run [OPTIONS] IMAGE [COMMAND [ARG...]]\n"
     "\n"
     "Runs IMAGE (pulled when missing) in new user, mount, pid, uts, ipc, cgroup\n"
     "and network namespaces: root inside is an unprivileged id range outside.\n"
     "Exits with the command's status; 125 when wharf could not start it,\n"
     "126 when it could not be executed, 127 when it was not found.\n"
     "\n"
     "  --rm                   remove the container when it exits\n"
     "  -d, --detach           run in the background, print the container id\n"
     "  -i, --interactive      keep stdin open\n"
     "  -t, --tty              give the command a terminal\n"
     "  -e, --env KEY[=VALUE]  set an environment variable\n"
     "  --env-file FILE        read KEY=VALUE lines\n"
     "  -w, --workdir DIR      working directory inside the container\n"
     "  -u, --user USER[:GROUP] user (name or id, from the image's /etc/passwd)\n"
     "  -v, --volume SRC:DST[:ro] bind a host directory or file\n"
     "  --tmpfs DST[:OPTIONS]  mount a tmpfs\n"
     "  --read-only            read-only root filesystem\n"
     "  --hostname NAME, --name NAME\n"
     "  --network private|none|host  (default private: loopback only)\n"
     "  -p, --publish [IP:]HOST-PORT:PORT[/udp]  publish a port (slirp4netns)\n"
     "  --memory BYTES, --cpus N, --pids-limit N  limits (best effort)\n"
     "  --cap-add CAP, --cap-drop CAP, --privileged\n"
     "  --restart no|on-failure[:N]|always|unless-stopped  (with -d)\n"
     "  --health-cmd CMD, --health-interval D, --health-timeout D,\n"
     "  --health-start-period D, --health-retries N, --no-healthcheck\n"
     "  --follows REF           the tag `wharf update` follows (default: IMAGE)\n"
     "  --entrypoint CMD, --platform OS/ARCH\n",
     cli_cmd_run},
    {"build", "build an image from a Dockerfile (Wharffile, Containerfile)",
     "usage: wharf build [-f FILE] [-t REF]... [--build-arg K=V]... [--target STAGE] [--no-cache]\n"
     "                   [--pull] [--platform OS/ARCH] [--compression zstd|gzip]\n"
     "                   [--network private|host|none] [-q] CONTEXT\n"
     "\n"
     "Each instruction is one step whose image is kept in localhost/wharf-build; a\n"
     "step with the same parent, instruction and inputs (files copied, environment)\n"
     "is reused. RUN steps run in a container like `wharf run`; their layer is what\n"
     "they changed. A failed step prints the id of the last good step's image:\n"
     "`wharf run -it ID sh` opens it. SOURCE_DATE_EPOCH makes digests reproducible.\n"
     "Prints the image digest on stdout.\n",
     cli_cmd_build},
    {"update", "move a container to the image its tag names now",
     "usage: wharf update CONTAINER\n"
     "\n"
     "Pulls the tag the container follows (the image given to `wharf run`, or\n"
     "--follows); when it names another image, the container is replaced by one\n"
     "of the new image with the same options and name. With a health check (the\n"
     "image's HEALTHCHECK or run's --health-cmd) the new container must turn\n"
     "healthy, else the previous image is started again. `wharf rollback\n"
     "CONTAINER` goes back to the image it ran before.\n",
     cli_cmd_update},
    {"ps", "list containers",
     "usage: wharf ps [-a] [-q] [--format json]\n"
     "\n"
     "  -a, --all     also containers that exited\n"
     "  -q, --quiet   ids only\n",
     cli_cmd_ps},
    {"stop", "stop running containers",
     "usage: wharf stop [-t SECONDS] CONTAINER...\n"
     "\n"
     "Sends the image's stop signal (default SIGTERM), then SIGKILL after\n"
     "-t SECONDS (default 10).\n",
     cli_cmd_stop},
    {"rm", "remove containers", "usage: wharf rm [-f] CONTAINER...\n\n  -f, --force   stop a running one first\n",
     cli_cmd_rm},
    {"logs", "print the output of a detached container",
     "usage: wharf logs [-f] CONTAINER\n\n  -f, --follow  keep printing until it exits\n", cli_cmd_logs},
    {"exec", "run a command in a running container",
     "usage: wharf exec [-i] [-t] [-e KEY=VALUE] [-w DIR] [-u USER] CONTAINER COMMAND [ARG...]\n", cli_cmd_exec},
    {"save", "write local images to an OCI image layout (directory or tar)",
     "usage: wharf save [--format dir|tar] -o PATH REF...\n"
     "\n"
     "Writes the local images REF... as one OCI image layout: oci-layout,\n"
     "index.json (one entry per REF, named with its full reference in\n"
     "org.opencontainers.image.ref.name) and blobs/sha256/..., every blob as\n"
     "stored (digests unchanged). An index brings the platforms stored locally.\n"
     "PATH is a directory (which must not exist or be empty), or a tar when it\n"
     "ends in \".tar\" or is \"-\" (stdout); it appears complete or not at all.\n"
     "Tools that read layouts take it as oci:PATH:REF or oci-archive:PATH:REF.\n"
     "\n"
     "  -o, --output PATH   where to write\n"
     "  --format F          dir or tar, whatever PATH's name says\n",
     cli_cmd_save},
    {"load", "read images from an OCI image layout (directory or tar)",
     "usage: wharf load -i PATH [REPOSITORY[:TAG]]\n"
     "\n"
     "Stores every image the OCI image layout PATH (a directory, or a tar, plain\n"
     "or compressed; \"-\" for stdin) names in its index.json. An entry named with\n"
     "a full reference (io.containerd.image.name or\n"
     "org.opencontainers.image.ref.name) keeps it; an entry named with a bare\n"
     "tag goes into REPOSITORY with that tag; an entry without a name goes into\n"
     "REPOSITORY with TAG, or untagged. Every blob is checked against its digest\n"
     "and size before it is stored; archive entries that climb out of the layout\n"
     "are refused.\n"
     "\n"
     "  -i, --input PATH   what to read\n",
     cli_cmd_load},
    {"login", "store credentials for a registry",
     "usage: wharf login [-u USER] [-p PASSWORD | --password-stdin] HOST\n"
     "\n"
     "Checks the credentials against HOST's /v2/ (basic or bearer-token auth)\n"
     "and saves them in $WHARF_CONFIG or ~/.config/wharf/config.json (mode 0600,\n"
     "docker's format). Credentials from ~/.docker/config.json are also used.\n"
     "With a credential helper configured for HOST (\"credHelpers\": {HOST: NAME},\n"
     "else \"credsStore\": NAME, in either file), docker-credential-NAME keeps\n"
     "them instead (store on login, get on use, erase on logout).\n"
     "Without -p or --password-stdin the password is asked on the terminal.\n",
     cli_cmd_login},
    {"logout", "forget the credentials of a registry",
     "usage: wharf logout HOST\n"
     "\n"
     "Removes HOST's credentials from wharf's config.json and, when one is\n"
     "configured for HOST, from its credential helper (erase).\n",
     cli_cmd_logout},
};

static const char global_usage[] =
    "usage: wharf [--root DIR] [--quiet] [--insecure] [--tls-verify[=BOOL]] [--cert-dir DIR]\n"
    "             VERB [ARGS...]\n"
    "\n"
    "global options:\n"
    "  --root DIR   local store (default $WHARF_ROOT, else /var/lib/wharf as root,\n"
    "               $XDG_DATA_HOME/wharf otherwise)\n"
    "  --quiet      print only the result (a digest)\n"
    "  --insecure   treat every registry as insecure: HTTPS without checking its\n"
    "               certificate, then plain HTTP (see also \"insecure_registries\"\n"
    "               in config.json); 127.0.0.0/8 and localhost always are, tried\n"
    "               the other way round: plain HTTP, then HTTPS unchecked\n"
    "  --tls-verify[=BOOL]  true: HTTPS with certificates checked for every registry,\n"
    "               loopback included; false: the same as --insecure\n"
    "  --cert-dir DIR  CA certificates (*.crt) and a client certificate\n"
    "               (NAME.cert + NAME.key) for every registry; by default they\n"
    "               come from $XDG_CONFIG_HOME/wharf/certs.d/HOST:PORT/ or\n"
    "               /etc/wharf/certs.d/HOST:PORT/\n"
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

/* Takes the global options out of argv[first..argc) (up to "--", and for
 * run and exec up to the verb), keeping the rest in order. Returns the new argc, or -1 after a usage error. */
static int take_globals(struct cli_opts *o, int first, int argc, char **argv)
{
  int w = first;
  bool verb_seen = false;

  for (int i = first; i < argc; i++) {
    const char *a = argv[i];
    /* after `run` and `exec`, the arguments belong to the container's
     * command (`wharf run img grep -q x`): globals only before the verb */
    if (a[0] != '-' && !verb_seen) {
      verb_seen = true;
      if (strcmp(a, "run") == 0 || strcmp(a, "exec") == 0) {
        while (i < argc)
          argv[w++] = argv[i++];
        break;
      }
    }
    if (strcmp(a, "--") == 0) {
      while (i < argc)
        argv[w++] = argv[i++];
      break;
    }
    if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
      o->quiet = true;
    } else if (strcmp(a, "--insecure") == 0) {
      o->insecure = true;
    } else if (strcmp(a, "--tls-verify") == 0 || strcmp(a, "--tls-verify=true") == 0) {
      o->tls_verify = CLI_TLS_VERIFY;
    } else if (strcmp(a, "--tls-verify=false") == 0) {
      o->tls_verify = CLI_TLS_NOVERIFY;
    } else if (strncmp(a, "--tls-verify=", 13) == 0) {
      return cli_usage("wharf", "--tls-verify takes true or false"), -1;
    } else if (strcmp(a, "--cert-dir") == 0) {
      if (i + 1 >= argc || argv[i + 1][0] == '\0')
        return cli_usage("wharf", "--cert-dir needs a directory"), -1;
      o->cert_dir = argv[++i];
    } else if (strncmp(a, "--cert-dir=", 11) == 0 && a[11]) {
      o->cert_dir = a + 11;
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
