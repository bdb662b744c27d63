/* The contract's error vocabulary (API.md §1) and its HTTP statuses. */
#ifndef AGENTRUN_ERRORS_H
#define AGENTRUN_ERRORS_H

enum err_code {
	ERR_INVALID_INPUT,
	ERR_AUTHORIZATION,
	ERR_NOT_FOUND,
	ERR_METHOD_NOT_ALLOWED,
	ERR_CONFLICT,
	ERR_PAYLOAD_TOO_LARGE,
	ERR_RATE_LIMIT,
	ERR_TIMEOUT,
	ERR_INTERNAL,
	ERR_PROVIDER,
	ERR_TOOL,
	ERR_LIMIT_EXCEEDED,
	ERR__MAX
};

/* "INVALID_INPUT" … */
const char *err_code_name(enum err_code code);
/* The usual HTTP status of a code (401 for AUTHORIZATION_ERROR; 403 is chosen by the caller). */
int err_code_status(enum err_code code);
/* "Not Found" … for a status line. */
const char *err_status_reason(int status);

#endif
