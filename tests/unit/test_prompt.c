/* prompt_render_user: the user turn rules of API.md §2. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/prompt.h"

static void
check(const char *tpl, const char *input_json, const char *want)
{
	json_t *input = json_loads(input_json, 0, NULL);
	char *got;

	assert_non_null(input);
	got = prompt_render_user(tpl, input);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
	json_decref(input);
}

static void
test_without_template_prompt_first(void **state)
{
	(void)state;
	check(NULL, "{\"prompt\":\"p\",\"message\":\"m\"}", "p");
	check(NULL, "{\"message\":\"m\"}", "m");
	check(NULL, "{\"prompt\":5,\"message\":\"m\"}", "m");
}

static void
test_without_template_json_text(void **state)
{
	(void)state;
	check(NULL, "{\"b\":1,\"a\":[true,null]}", "{\"a\":[true,null],\"b\":1}");
	check(NULL, "{}", "{}");
}

static void
test_template_substitution(void **state)
{
	(void)state;
	check("Hi {{name}}!", "{\"name\":\"Ann\"}", "Hi Ann!");
	check("{{ name }} and {{name}}", "{\"name\":\"B\"}", "B and B");
	check("n={{n}} o={{o}}", "{\"n\":3,\"o\":{\"k\":[1]}}", "n=3 o={\"k\":[1]}");
	check("[{{missing}}]", "{}", "[]");
	check("[{{nul}}]", "{\"nul\":null}", "[]");
}

static void
test_template_unclosed_and_plain(void **state)
{
	(void)state;
	check("no fields", "{\"a\":1}", "no fields");
	check("open {{a", "{\"a\":1}", "open {{a");
	check("", "{\"a\":1}", "");
	check("{{}}x", "{}", "x");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_without_template_prompt_first),
		cmocka_unit_test(test_without_template_json_text),
		cmocka_unit_test(test_template_substitution),
		cmocka_unit_test(test_template_unclosed_and_plain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
