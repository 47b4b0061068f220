/* client/refs.c - image references with docker's defaults applied.
 *
 *   alpine                    -> docker.io / library/alpine : latest
 *   user/app:v2               -> docker.io / user/app : v2
 *   index.docker.io/x         -> docker.io / library/x : latest
 *   127.0.0.1:5000/app@sha256:..  -> 127.0.0.1:5000 / app (digest, no tag)
 *
 * Invariants: a cli_ref's path passed wh_name_valid(), its tag
 * wh_tag_valid() and its digest wh_digest_parse() (common/ref.c), so all
 * three are safe in a URL path; repo is always "domain/path" and is the name
 * of the local repository an image of that reference is stored in.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "client/cli.h"
#include "common/buf.h"
#include "common/cleanup.h"
#include "common/ref.h"

#define DOCKER_HUB_HOST "registry-1.docker.io"

static const char *const docker_aliases[] = {"docker.io", "index.docker.io", "registry-1.docker.io"};

static bool is_docker_hub(const char *domain)
{
  for (size_t i = 0; i < WH_ARRAY_LEN(docker_aliases); i++)
    if (strcmp(domain, docker_aliases[i]) == 0)
      return true;
  return false;
}

const char *cli_registry_host(const char *domain)
{
  return is_docker_hub(domain) ? DOCKER_HUB_HOST : domain;
}

void cli_ref_release(struct cli_ref *r)
{
  if (r == NULL)
    return;
  free(r->domain);
  free(r->path);
  free(r->repo);
  free(r->tag);
  memset(r, 0, sizeof(*r));
}

const char *cli_ref_reference(const struct cli_ref *r)
{
  return r->has_digest ? r->digest.str : r->tag;
}

/* Fills out from a parsed reference; out is released on failure. */
static enum wh_code normalise(const struct wh_ref *p, unsigned flags, struct cli_ref *out, struct wh_err *err)
{
  const char *domain = p->domain ? p->domain : CLI_DEFAULT_DOMAIN;
  bool hub = is_docker_hub(domain);
  const char *tag = NULL;
  struct wh_buf path, repo;

  wh_buf_init(&path, WH_NAME_MAX + 16);
  wh_buf_init(&repo, WH_REF_MAX);
  if (hub && strchr(p->name, '/') == NULL && wh_buf_appendz(&path, "library/") != WH_OK)
    goto nomem;
  if (wh_buf_appendz(&path, p->name) != WH_OK)
    goto nomem;
  if (path.len > WH_NAME_MAX) {
    wh_buf_release(&path);
    return wh_err_set(err, WH_EINVALID, 0, "repository name too long");
  }
  if (wh_buf_printf(&repo, "%s/%s", hub ? CLI_DEFAULT_DOMAIN : domain, path.data) != WH_OK)
    goto nomem;
  out->domain = strdup(hub ? CLI_DEFAULT_DOMAIN : domain);
  out->path = wh_buf_steal(&path, NULL);
  out->repo = wh_buf_steal(&repo, NULL);
  if (p->tag)
    tag = p->tag;
  else if (!p->has_digest && !(flags & (CLI_REF_NO_DEFAULT_TAG | CLI_REF_NO_TAG)))
    tag = CLI_DEFAULT_TAG;
  if (tag)
    out->tag = strdup(tag);
  if (!out->domain || !out->path || !out->repo || (tag && !out->tag))
    goto nomem;
  out->has_digest = p->has_digest;
  if (p->has_digest)
    out->digest = p->digest;
  return WH_OK;
nomem:
  wh_buf_release(&path);
  wh_buf_release(&repo);
  cli_ref_release(out);
  return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
}

enum wh_code cli_ref_parse(const char *s, unsigned flags, struct cli_ref *out, struct wh_err *err)
{
  struct wh_ref p = {0};
  struct cli_ref r = {0};
  enum wh_code rc;

  if (s == NULL || s[0] == '\0')
    return wh_err_set(err, WH_EINVALID, 0, "empty image reference");
  if ((rc = wh_ref_parse(s, &p, err)) != WH_OK)
    return rc;
  if ((flags & CLI_REF_NO_TAG) && (p.tag || p.has_digest)) {
    wh_ref_release(&p);
    return wh_err_set(err, WH_EINVALID, 0, "a repository name is expected here, without tag or digest");
  }
  rc = normalise(&p, flags, &r, err);
  wh_ref_release(&p);
  if (rc == WH_OK)
    *out = r;
  return rc;
}

const char *cli_repo_familiar(const char *repo)
{
  static const char hub[] = CLI_DEFAULT_DOMAIN "/";
  static const char lib[] = "library/";

  if (strncmp(repo, hub, sizeof(hub) - 1) != 0)
    return repo;
  repo += sizeof(hub) - 1;
  if (strncmp(repo, lib, sizeof(lib) - 1) == 0 && strchr(repo + sizeof(lib) - 1, '/') == NULL)
    repo += sizeof(lib) - 1;
  return repo;
}

bool cli_repo_split(const char *repo, size_t *domain_len, const char **path_out)
{
  const char *slash = strchr(repo, '/');

  if (slash == NULL || slash == repo || slash[1] == '\0')
    return false;
  *domain_len = (size_t)(slash - repo);
  *path_out = slash + 1;
  return true;
}
