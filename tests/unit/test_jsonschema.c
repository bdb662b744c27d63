/* cmocka tests for src/core/jsonschema.c: every keyword, pointers, check(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/jsonschema.h"

/* Parses text (any JSON value); new reference. */
static json_t *
parse(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);

	if (v == NULL)
		fail_msg("bad test JSON %s: %s", text, jerr.text);
	return v;
}

/*
 * Validates instance against schema and checks that the violations' pointers
 * are exactly the NULL-terminated list want, in order.
 */
static void
expect(const char *schema, const char *instance, const char *const *want)
{
	json_t *s = parse(schema), *i = parse(instance), *out = json_array();
	size_t n = 0;
	char err[256];
	int rc;

	assert_int_equal(jsonschema_check(s, err, sizeof(err)), 0);
	while (want[n] != NULL)
		n++;
	rc = jsonschema_validate(s, i, out);
	if (rc != (int)n) {
		char *dump = json_dumps(out, 0);

		fail_msg("schema %s instance %s: %d violations, want %zu: %s", schema, instance, rc,
		    n, dump);
	}
	assert_int_equal(json_array_size(out), n);
	for (size_t k = 0; k < n; k++) {
		json_t *v = json_array_get(out, k);

		assert_true(json_is_object(v));
		assert_string_equal(json_string_value(json_object_get(v, "pointer")), want[k]);
		assert_true(json_is_string(json_object_get(v, "message")));
		assert_true(json_string_length(json_object_get(v, "message")) > 0);
	}
	json_decref(s);
	json_decref(i);
	json_decref(out);
}

static const char *const NONE[] = { NULL };
static const char *const ROOT[] = { "", NULL };

static void
valid(const char *schema, const char *instance)
{
	expect(schema, instance, NONE);
}

static void
invalid(const char *schema, const char *instance)
{
	expect(schema, instance, ROOT);
}

/* The message of the single violation. */
static void
expect_message(const char *schema, const char *instance, const char *message)
{
	json_t *s = parse(schema), *i = parse(instance), *out = json_array();

	assert_int_equal(jsonschema_validate(s, i, out), 1);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(out, 0), "message")), message);
	json_decref(s);
	json_decref(i);
	json_decref(out);
}

/* check() refuses schema with a message that contains want. */
static void
rejected(const char *schema, const char *want)
{
	json_t *s = parse(schema);
	char err[256];

	memset(err, 'x', sizeof(err));
	if (jsonschema_check(s, err, sizeof(err)) != -1)
		fail_msg("check accepted %s", schema);
	if (strstr(err, want) == NULL)
		fail_msg("check of %s said \"%s\", want \"%s\"", schema, err, want);
	json_decref(s);
}

static void
test_type(void **state)
{
	(void)state;
	valid("{\"type\": \"object\"}", "{}");
	invalid("{\"type\": \"object\"}", "[]");
	valid("{\"type\": \"array\"}", "[1]");
	invalid("{\"type\": \"array\"}", "{}");
	valid("{\"type\": \"string\"}", "\"\"");
	invalid("{\"type\": \"string\"}", "1");
	valid("{\"type\": \"number\"}", "1");
	valid("{\"type\": \"number\"}", "1.5");
	invalid("{\"type\": \"number\"}", "\"1\"");
	valid("{\"type\": \"integer\"}", "-7");
	invalid("{\"type\": \"integer\"}", "1.0");
	invalid("{\"type\": \"integer\"}", "1.5");
	valid("{\"type\": \"boolean\"}", "false");
	invalid("{\"type\": \"boolean\"}", "0");
	valid("{\"type\": \"null\"}", "null");
	invalid("{\"type\": \"null\"}", "false");
	expect_message("{\"type\": \"string\"}", "1", "must be of type string");
}

static void
test_type_array(void **state)
{
	(void)state;
	valid("{\"type\": [\"string\", \"null\"]}", "null");
	valid("{\"type\": [\"string\", \"null\"]}", "\"x\"");
	invalid("{\"type\": [\"string\", \"null\"]}", "3");
	expect_message("{\"type\": [\"string\", \"null\"]}", "3", "must be of type string, null");
	valid("{\"type\": [\"integer\"]}", "3");
}

static void
test_properties_required(void **state)
{
	static const char *const missing[] = { "/a", "/c", NULL };
	static const char *const nested[] = { "/a/b", NULL };
	static const char *const props[] = { "/n", "/s", NULL };
	const char *schema = "{\"type\": \"object\", \"required\": [\"a\", \"b\", \"c\"]}";

	(void)state;
	valid(schema, "{\"a\": 1, \"b\": null, \"c\": []}");
	expect(schema, "{\"b\": 1}", missing);
	expect_message("{\"required\": [\"a\"]}", "{}", "is required");
	/* required and properties do not apply to non-objects. */
	valid("{\"required\": [\"a\"], \"properties\": {\"a\": false}}", "[]");
	expect("{\"properties\": {\"a\": {\"required\": [\"b\"]}}}", "{\"a\": {}}", nested);
	expect("{\"properties\": {\"n\": {\"type\": \"number\"}, \"s\": {\"type\": \"string\"},"
	       " \"ok\": {\"type\": \"boolean\"}}}",
	    "{\"n\": \"1\", \"s\": 2, \"ok\": true, \"other\": 5}", props);
}

static void
test_additional_properties(void **state)
{
	static const char *const extra[] = { "/x", "/y", NULL };
	static const char *const typed[] = { "/y", NULL };

	(void)state;
	valid("{\"properties\": {\"a\": {}}, \"additionalProperties\": false}", "{\"a\": 1}");
	expect("{\"properties\": {\"a\": {}}, \"additionalProperties\": false}",
	    "{\"a\": 1, \"x\": 2, \"y\": 3}", extra);
	expect_message(
	    "{\"additionalProperties\": false}", "{\"x\": 1}", "is not an allowed property");
	valid("{\"additionalProperties\": true}", "{\"x\": 1}");
	expect("{\"properties\": {\"a\": {}}, \"additionalProperties\": {\"type\": \"integer\"}}",
	    "{\"a\": \"s\", \"x\": 2, \"y\": \"3\"}", typed);
}

static void
test_enum_const(void **state)
{
	const char *e = "{\"enum\": [\"red\", 2, null, {\"a\": [1]}]}";

	(void)state;
	valid(e, "\"red\"");
	valid(e, "2");
	valid(e, "2.0"); /* numbers compare by value */
	valid(e, "null");
	valid(e, "{\"a\": [1.0]}");
	invalid(e, "\"blue\"");
	invalid(e, "{\"a\": [1], \"b\": 1}");
	invalid(e, "\"2\"");
	invalid("{\"enum\": []}", "1");
	expect_message(e, "3", "must be one of the allowed values");
	valid("{\"const\": {\"x\": [true, 1]}}", "{\"x\": [true, 1]}");
	invalid("{\"const\": {\"x\": [true, 1]}}", "{\"x\": [true, 2]}");
	invalid("{\"const\": 0}", "false");
	invalid("{\"const\": null}", "0");
	valid("{\"const\": 1}", "1.0");
	expect_message("{\"const\": \"a\"}", "\"b\"", "must be equal to the constant");
}

static void
test_items(void **state)
{
	static const char *const bad[] = { "/1", "/3", NULL };
	static const char *const deep[] = { "/0/1/0", NULL };

	(void)state;
	valid("{\"items\": {\"type\": \"integer\"}}", "[1, 2, 3]");
	valid("{\"items\": {\"type\": \"integer\"}}", "[]");
	expect("{\"items\": {\"type\": \"integer\"}}", "[1, \"x\", 3, 4.5]", bad);
	expect("{\"items\": {\"items\": {\"items\": {\"type\": \"string\"}}}}", "[[[\"a\"], [1]]]",
	    deep);
	valid("{\"items\": {\"type\": \"integer\"}}", "{\"0\": \"x\"}"); /* not an array */
	expect("{\"items\": false}", "[1]", (const char *const[]){ "/0", NULL });
	valid("{\"items\": true}", "[1, \"a\"]");
}

static void
test_min_max_items(void **state)
{
	(void)state;
	valid("{\"minItems\": 2, \"maxItems\": 3}", "[1, 2]");
	valid("{\"minItems\": 2, \"maxItems\": 3}", "[1, 2, 3]");
	invalid("{\"minItems\": 2}", "[1]");
	invalid("{\"maxItems\": 3}", "[1, 2, 3, 4]");
	valid("{\"minItems\": 2}", "\"x\""); /* not an array */
	expect_message("{\"minItems\": 2}", "[]", "must have at least 2 items");
	expect_message("{\"maxItems\": 0}", "[1]", "must have at most 0 items");
}

static void
test_min_max_length(void **state)
{
	(void)state;
	valid("{\"minLength\": 2, \"maxLength\": 3}", "\"ab\"");
	invalid("{\"minLength\": 2}", "\"a\"");
	invalid("{\"maxLength\": 3}", "\"abcd\"");
	/* Code points, not bytes: "héé" is 5 bytes, 3 characters; "€€" 6 bytes, 2. */
	valid("{\"maxLength\": 3}", "\"h\\u00e9\\u00e9\"");
	valid("{\"maxLength\": 2}", "\"\xe2\x82\xac\xe2\x82\xac\"");
	invalid("{\"minLength\": 3}", "\"\xe2\x82\xac\xe2\x82\xac\"");
	/* An astral character (a surrogate pair in JSON) is one code point. */
	valid("{\"maxLength\": 1, \"minLength\": 1}", "\"\\ud83d\\ude00\"");
	valid("{\"minLength\": 5}", "12"); /* not a string */
	expect_message("{\"minLength\": 2}", "\"a\"", "must be at least 2 characters long");
	expect_message("{\"maxLength\": 1}", "\"ab\"", "must be at most 1 characters long");
}

static void
test_numeric_bounds(void **state)
{
	(void)state;
	valid("{\"minimum\": 1, \"maximum\": 3}", "1");
	valid("{\"minimum\": 1, \"maximum\": 3}", "3");
	valid("{\"minimum\": 1, \"maximum\": 3}", "2.5");
	invalid("{\"minimum\": 1}", "0.999");
	invalid("{\"maximum\": 3}", "4");
	invalid("{\"maximum\": 2.5}", "3");
	valid("{\"exclusiveMinimum\": 0}", "0.001");
	invalid("{\"exclusiveMinimum\": 0}", "0");
	valid("{\"exclusiveMaximum\": 10}", "9");
	invalid("{\"exclusiveMaximum\": 10}", "10");
	invalid("{\"exclusiveMaximum\": 10}", "10.0");
	valid("{\"minimum\": 9007199254740993}", "9007199254740993");
	invalid("{\"minimum\": 9007199254740993}", "9007199254740992");
	valid("{\"minimum\": 5}", "\"1\""); /* not a number */
	expect_message("{\"minimum\": 1}", "0", "must be >= 1");
	expect_message("{\"maximum\": 1.5}", "2", "must be <= 1.5");
	expect_message("{\"exclusiveMinimum\": 0}", "0", "must be > 0");
	expect_message("{\"exclusiveMaximum\": 0}", "0", "must be < 0");
}

static void
test_boolean_schemas(void **state)
{
	(void)state;
	valid("true", "{\"anything\": 1}");
	invalid("false", "1");
	valid("{}", "[1, {}, null]");
	expect("{\"properties\": {\"gone\": false}}", "{\"gone\": 1}",
	    (const char *const[]){ "/gone", NULL });
}

static void
test_pointer_escaping(void **state)
{
	static const char *const esc[] = { "/a~1b", "/m~0n", "/~01~10", "/", NULL };
	static const char *const nested[] = { "/x~1y/0/k~0", NULL };

	(void)state;
	expect("{\"additionalProperties\": {\"type\": \"string\"}}",
	    "{\"a/b\": 1, \"m~n\": 2, \"~1/0\": 3, \"\": 4, \"fine\": \"s\"}", esc);
	expect("{\"properties\": {\"x/y\": {\"items\": {\"required\": [\"k~\"]}}}}",
	    "{\"x/y\": [{}]}", nested);
}

static void
test_multiple_violations(void **state)
{
	static const char *const many[] = { "/name", "/age", "/tags", "/tags/1", "/extra", NULL };
	const char *schema = "{\"type\": \"object\","
			     " \"required\": [\"id\", \"name\"],"
			     " \"properties\": {"
			     "   \"id\": {\"type\": \"integer\"},"
			     "   \"name\": {\"type\": \"string\", \"minLength\": 1},"
			     "   \"age\": {\"type\": \"integer\", \"minimum\": 0},"
			     "   \"tags\": {\"type\": \"array\", \"maxItems\": 1, \"items\": "
			     "{\"enum\": [\"a\", \"b\"]}}"
			     " },"
			     " \"additionalProperties\": false}";
	static const char *const both[] = { "", "", NULL };

	(void)state;
	/* Missing "name", then each property in instance order. */
	expect(schema, "{\"id\": 1, \"age\": -1, \"tags\": [\"a\", \"z\"], \"extra\": 0}", many);
	valid(schema, "{\"id\": 1, \"name\": \"n\", \"age\": 3, \"tags\": [\"b\"]}");
	/* Two keywords failing on the same value. */
	expect("{\"type\": \"integer\", \"minimum\": 5}", "2.5", both);
}

static void
test_many_violations_are_capped(void **state)
{
	json_t *s = parse("{\"items\": {\"type\": \"string\"}}"), *i = json_array();
	json_t *out = json_array();

	(void)state;
	for (int k = 0; k < 150; k++)
		json_array_append_new(i, json_integer(k));
	assert_int_equal(jsonschema_validate(s, i, out), 150);
	assert_int_equal(json_array_size(out), 100);
	json_decref(s);
	json_decref(i);
	json_decref(out);
}

static void
test_unknown_keywords_ignored(void **state)
{
	(void)state;
	valid("{\"type\": \"string\", \"pattern\": \"^x$\", \"format\": \"email\","
	      " \"title\": \"t\", \"$schema\": \"http://json-schema.org/draft-07/schema#\"}",
	    "\"abc\"");
	valid("{\"allOf\": [{\"type\": \"integer\"}], \"anyOf\": 5}", "\"s\"");
}

static void
test_check_accepts(void **state)
{
	static const char *const ok[] = {
		"{}",
		"true",
		"{\"type\": \"object\", \"properties\": {\"a\": {\"type\": [\"string\", \"null\"],"
		" \"minLength\": 0, \"maxLength\": 10}, \"b\": true}, \"required\": [\"a\"],"
		" \"additionalProperties\": {\"type\": \"number\", \"minimum\": -1.5,"
		" \"exclusiveMaximum\": 7}}",
		"{\"items\": {\"enum\": [1, \"a\", null]}, \"minItems\": 0, \"maxItems\": 3,"
		" \"const\": [1]}",
		"{\"pattern\": 5, \"format\": [], \"anything\": {\"type\": 7}}",
		NULL,
	};
	char err[128];

	(void)state;
	for (size_t i = 0; ok[i] != NULL; i++) {
		json_t *s = parse(ok[i]);

		if (jsonschema_check(s, err, sizeof(err)) != 0)
			fail_msg("check refused %s: %s", ok[i], err);
		json_decref(s);
	}
}

static void
test_check_rejects(void **state)
{
	(void)state;
	rejected("5", "must be an object or a boolean");
	rejected("[]", "must be an object or a boolean");
	rejected("{\"type\": \"str\"}", "/type: unknown type name");
	rejected("{\"type\": 5}", "/type: must be a type name");
	rejected("{\"type\": []}", "/type: must be a type name");
	rejected("{\"type\": [\"string\", 1]}", "/type: unknown type name");
	rejected("{\"type\": [\"string\", \"string\"]}", "/type: repeats");
	rejected("{\"properties\": []}", "/properties: must be an object");
	rejected("{\"properties\": {\"a\": 1}}", "/properties/a: a schema must be");
	rejected("{\"properties\": {\"a/b\": {\"type\": \"x\"}}}", "/properties/a~1b/type:");
	rejected("{\"required\": \"a\"}", "/required: must be an array of strings");
	rejected("{\"required\": [\"a\", 1]}", "/required: must be an array of strings");
	rejected("{\"enum\": \"a\"}", "/enum: must be an array");
	rejected("{\"items\": [{}]}", "/items: must be one schema");
	rejected("{\"items\": 3}", "/items: a schema must be");
	rejected("{\"items\": {\"minItems\": -1}}", "/items/minItems: must be a non-negative");
	rejected("{\"maxItems\": 1.0}", "/maxItems: must be a non-negative integer");
	rejected("{\"minLength\": \"1\"}", "/minLength: must be a non-negative integer");
	rejected("{\"maxLength\": -2}", "/maxLength: must be a non-negative integer");
	rejected("{\"minimum\": \"0\"}", "/minimum: must be a number");
	rejected("{\"maximum\": null}", "/maximum: must be a number");
	rejected("{\"exclusiveMinimum\": true}", "/exclusiveMinimum: must be a number");
	rejected("{\"exclusiveMaximum\": {}}", "/exclusiveMaximum: must be a number");
	rejected("{\"additionalProperties\": \"no\"}", "/additionalProperties: a schema must be");
	rejected("{\"additionalProperties\": {\"type\": \"x\"}}", "/additionalProperties/type:");
}

/* {"items": {"items": … {}}} with levels schemas in all. */
static json_t *
nested_schema(int levels)
{
	json_t *s = json_object();

	for (int i = 1; i < levels; i++) {
		json_t *outer = json_object();

		json_object_set_new(outer, "items", s);
		s = outer;
	}
	return s;
}

static void
test_check_depth(void **state)
{
	char err[256];
	json_t *s;

	(void)state;
	s = nested_schema(32);
	assert_int_equal(jsonschema_check(s, err, sizeof(err)), 0);
	json_decref(s);
	s = nested_schema(33);
	assert_int_equal(jsonschema_check(s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "deeper than 32"));
	json_decref(s);
}

static void
test_check_small_err_buffer(void **state)
{
	json_t *s = parse("{\"type\": 1}");
	char err[8];

	(void)state;
	assert_int_equal(jsonschema_check(s, err, sizeof(err)), -1);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_int_equal(jsonschema_check(s, NULL, 0), -1);
	json_decref(s);
}

static void
test_validate_bad_arguments(void **state)
{
	json_t *s = parse("{}"), *out = json_object();

	(void)state;
	assert_int_equal(jsonschema_validate(s, s, out), -1); /* violations not an array */
	json_decref(s);
	json_decref(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type),
		cmocka_unit_test(test_type_array),
		cmocka_unit_test(test_properties_required),
		cmocka_unit_test(test_additional_properties),
		cmocka_unit_test(test_enum_const),
		cmocka_unit_test(test_items),
		cmocka_unit_test(test_min_max_items),
		cmocka_unit_test(test_min_max_length),
		cmocka_unit_test(test_numeric_bounds),
		cmocka_unit_test(test_boolean_schemas),
		cmocka_unit_test(test_pointer_escaping),
		cmocka_unit_test(test_multiple_violations),
		cmocka_unit_test(test_many_violations_are_capped),
		cmocka_unit_test(test_unknown_keywords_ignored),
		cmocka_unit_test(test_check_accepts),
		cmocka_unit_test(test_check_rejects),
		cmocka_unit_test(test_check_depth),
		cmocka_unit_test(test_check_small_err_buffer),
		cmocka_unit_test(test_validate_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
