/* Fixture: a shared object that is not a derl plugin (no entry symbol). */
#include <gmodule.h>

G_MODULE_EXPORT int derl_fixture_something_else (void);

int
derl_fixture_something_else (void)
{
  return 42;
}
