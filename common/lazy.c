/* common/lazy.c - see common/lazy.h. */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>

#include "common/lazy.h"

bool wh_lazy_bind(const char *lib, const char *pkg, const char *const *sonames, const char *const *names,
                  void **const *fields, size_t n, char *failure, size_t size)
{
  void *h = NULL;

  for (size_t i = 0; h == NULL && sonames[i]; i++)
    h = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    snprintf(failure, size, "%s is missing (Debian %s): %s", lib, pkg, dlerror());
    return false;
  }
  for (size_t i = 0; i < n; i++) {
    if ((*fields[i] = dlsym(h, names[i])) == NULL) {
      snprintf(failure, size, "%s is too old: no %s", lib, names[i]);
      return false;
    }
  }
  return true;
}
