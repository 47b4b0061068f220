/* client/auth.h - registry credentials in docker's config.json format.
 *
 *   { "auths": { "HOST": { "auth": base64("user:password") } },
 *     "insecure_registries": [ "HOST", ... ] }          (wharf only)
 *
 * wharf's own file is $WHARF_CONFIG, else ~/.config/wharf/config.json; it is
 * written atomically (temp file, fsync, rename, fsync of the directory) with
 * mode 0600, keeping every key it does not know. ~/.docker/config.json (or
 * $DOCKER_CONFIG/config.json) is read too, never written. Keys of "auths"
 * are compared as hosts: "https://index.docker.io/v1/", "docker.io" and
 * "registry-1.docker.io" name the same registry, a scheme and a path are
 * ignored. An entry's "identitytoken" is an identity (refresh) token.
 *
 * Credential helpers, as docker has them: "credHelpers": {HOST: NAME} names
 * the helper of one registry, "credsStore": NAME the helper of all the
 * others; docker-credential-NAME (credhelper.c) is then asked first (get),
 * the file's "auths" entry only when the helper has nothing. Each file is
 * looked at in turn (wharf's, then docker's). login stores and logout
 * erases through the helper when one is configured for the registry.
 */
#ifndef WH_CLI_AUTH_H
#define WH_CLI_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"

#define CLI_CONFIG_MAX (1024 * 1024) /* largest config.json read */

struct cli_creds {
  char *user;    /* owned */
  char *pass;    /* owned; wiped on release */
  bool identity; /* user is "<token>": pass is an identity (refresh) token */
};
void cli_creds_release(struct cli_creds *c);

/* wharf's config file path (malloc'd) into *out. */
enum wh_code cli_auth_config_path(char **out, struct wh_err *err);
/* docker's config file path (malloc'd), or WH_ENOTFOUND without HOME. */
enum wh_code cli_auth_docker_path(char **out, struct wh_err *err);

/* Credentials for host from the file at path. WH_ENOTFOUND when the file
 * or the entry is missing; WH_EINVALID when the file is not valid. */
enum wh_code cli_auth_lookup_in(const char *path, const char *host, struct cli_creds *out,
                                struct wh_err *err);
/* Same, from wharf's file then docker's. */
enum wh_code cli_auth_lookup(const char *host, struct cli_creds *out, struct wh_err *err);
/* Saves (replaces) host's credentials in the file at path. */
enum wh_code cli_auth_store(const char *path, const char *host, const char *user, const char *pass,
                            struct wh_err *err);
/* Removes host's entry from the file at path; WH_ENOTFOUND when absent. */
enum wh_code cli_auth_erase(const char *path, const char *host, struct wh_err *err);
/* The credential helper named for host in the file at path
 * (credHelpers[host], else credsStore), malloc'd into *out. WH_ENOTFOUND
 * when there is none (or no file). */
enum wh_code cli_auth_helper_in(const char *path, const char *host, char **out, struct wh_err *err);
/* Same, from wharf's file then docker's. */
enum wh_code cli_auth_helper(const char *host, char **out, struct wh_err *err);
/* The server name a helper is given for host: "https://index.docker.io/v1/"
 * for docker.io, else the host ("127.0.0.1:5000"); malloc'd. */
char *cli_auth_server_url(const char *host);

/* ---- credhelper.c ---- */

/* docker-credential-HELPER get|store|erase for server. get: WH_ENOTFOUND
 * when the helper has nothing; a helper that is not installed is an error
 * (WH_EINVALID, the message says so), as with docker. */
enum wh_code cli_credhelper_get(const char *helper, const char *server, struct cli_creds *out,
                                struct wh_err *err);
enum wh_code cli_credhelper_store(const char *helper, const char *server, const char *user,
                                  const char *secret, struct wh_err *err);
enum wh_code cli_credhelper_erase(const char *helper, const char *server, struct wh_err *err);

/* Whether wharf's config lists host in "insecure_registries". */
bool cli_auth_insecure(const char *host);

/* The host part of an "auths" key ("https://h:5000/v1/" -> "h:5000"),
 * lower-cased, docker.io aliases folded to "docker.io"; malloc'd. */
char *cli_auth_key_host(const char *key);

/* base64 (RFC 4648, padded). encode: malloc'd, NULL on ENOMEM. */
char *cli_base64_encode(const void *p, size_t n);
enum wh_code cli_base64_decode(const char *s, size_t len, struct wh_buf *out, struct wh_err *err);

#endif
