#include "jsonv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
jv_time_format(const char *t, char *out, size_t outsz)
{
	char frac[4] = "000";
	const char *dot;

	if (t == NULL || strlen(t) < 19) {
		snprintf(out, outsz, "%s", "");
		return;
	}
	if ((dot = strchr(t + 19, '.')) != NULL)
		for (int i = 0; i < 3 && dot[1 + i] >= '0' && dot[1 + i] <= '9'; i++)
			frac[i] = dot[1 + i];
	snprintf(out, outsz, "%.10sT%.8s.%sZ", t, t + 11, frac);
}

json_t *
jv_time(const char *t)
{
	char buf[40];

	if (t == NULL)
		return json_null();
	jv_time_format(t, buf, sizeof(buf));
	return json_string(buf);
}

json_t *
jv_str(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

json_t *
jv_int(const char *s)
{
	char *end;
	long long v;

	if (s == NULL)
		return json_null();
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s)
		return json_null();
	return json_integer(v);
}

json_t *
jv_doc(const char *s, size_t len)
{
	json_t *v;

	if (s == NULL)
		return json_null();
	v = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	return v != NULL ? v : json_null();
}
