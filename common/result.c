#include "result.h"

const char *ig_strerror(int err)
{
	switch (err) {
	case IG_OK: return "ok";
	case IG_EBLOCKED: return "blocked, retry later";
	case IG_ECLOSED: return "closed";
	case IG_EPROTO: return "protocol error";
	case IG_EINTERNAL: return "internal error";
	case IG_EUSAGE: return "usage error";
	case IG_ENOMEM: return "out of memory";
	}
	return err > 0 ? "ok" : "unknown error";
}
