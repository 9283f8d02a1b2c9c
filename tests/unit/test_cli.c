/* Unit tests for the CLI's configuration helpers (cli/config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../cli/client.h"

/* allow_simulated_insecure is honoured only for these: a configuration
 * copied and pointed at another host must not accept simulated evidence. */
static void test_endpoint_loopback(void **state)
{
	static const char *const local[] = {
		"https://127.0.0.1:7443", "https://127.8.9.10:1", "https://localhost:7443",
		"https://LOCALHOST", "https://[::1]:7443", "http://127.0.0.1/", "127.0.0.1:7443",
	};
	static const char *const remote[] = {
		"https://192.0.2.1:7443", "https://10.0.0.1", "https://128.0.0.1:7443",
		"https://localhost.example.com:7443", "https://127.0.0.1.example.com",
		"https://[::2]:7443", "https://[::ffff:10.0.0.1]:1", "https://", "", "https://[::1",
		"https://localhostx:7443", "https://0.0.0.0:7443",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		if (!cli_endpoint_is_loopback(local[i]))
			fail_msg("not loopback: %s", local[i]);
	for (size_t i = 0; i < sizeof(remote) / sizeof(remote[0]); i++)
		if (cli_endpoint_is_loopback(remote[i]))
			fail_msg("loopback: %s", remote[i]);
	assert_false(cli_endpoint_is_loopback(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoint_loopback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
