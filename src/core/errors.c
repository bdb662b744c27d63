#include "errors.h"

static const struct {
	const char *name;
	int status;
} err_table[ERR__MAX] = {
	[ERR_INVALID_INPUT] = { "INVALID_INPUT", 400 },
	[ERR_AUTHORIZATION] = { "AUTHORIZATION_ERROR", 401 },
	[ERR_NOT_FOUND] = { "RESOURCE_NOT_FOUND", 404 },
	[ERR_METHOD_NOT_ALLOWED] = { "METHOD_NOT_ALLOWED", 405 },
	[ERR_CONFLICT] = { "CONFLICT", 409 },
	[ERR_PAYLOAD_TOO_LARGE] = { "PAYLOAD_TOO_LARGE", 413 },
	[ERR_RATE_LIMIT] = { "RATE_LIMIT_EXCEEDED", 429 },
	[ERR_TIMEOUT] = { "TIMEOUT", 504 },
	[ERR_INTERNAL] = { "INTERNAL_ERROR", 500 },
	[ERR_PROVIDER] = { "PROVIDER_ERROR", 502 },
	[ERR_TOOL] = { "TOOL_ERROR", 502 },
	[ERR_LIMIT_EXCEEDED] = { "LIMIT_EXCEEDED", 409 },
};

const char *
err_code_name(enum err_code code)
{
	if ((unsigned)code >= ERR__MAX)
		return "INTERNAL_ERROR";
	return err_table[code].name;
}

int
err_code_status(enum err_code code)
{
	if ((unsigned)code >= ERR__MAX)
		return 500;
	return err_table[code].status;
}

const char *
err_status_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Unknown";
	}
}
