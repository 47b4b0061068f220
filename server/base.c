/* server/base.c - GET/HEAD /v2/: the API version check (end-1).
 *
 * Always 200 with an empty JSON object: there is no authentication yet, so
 * every client may proceed with the v2 API.
 */
#include "config.h"

#include "server/server.h"

void srv_base_get(struct srv_req *r)
{
  srv_reply_const(r, 200, "application/json", "{}");
}
