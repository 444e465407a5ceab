/*
 * result.h - idgate's one error vocabulary.
 *
 * Every fallible function returns an int: 0 (IG_OK) or a positive count on
 * success, one of the negative IG_E* classes below on failure.  The class
 * tells the caller what to do; functions that reject peer input also give a
 * human-readable reason through a `const char **why` out-parameter (a static
 * string, never freed).  Functions never set errno for their callers.
 */
#ifndef IG_RESULT_H
#define IG_RESULT_H

enum {
	IG_OK = 0,
	IG_EBLOCKED = -1,  /* not now: need more input, or a queue is full; retry later */
	IG_ECLOSED = -2,   /* the peer closed or the object is shut down */
	IG_EPROTO = -3,    /* bad input from a peer: answer 4xx / send an alert */
	IG_EINTERNAL = -4, /* a failed dependency or a bug: answer 5xx, log */
	IG_EUSAGE = -5,    /* bad argument or configuration from our own caller */
	IG_ENOMEM = -6,    /* a fixed pool or allocation is exhausted */
};

#define IG_UNUSED __attribute__((unused))
#define IG_MUST_CHECK __attribute__((warn_unused_result))
#define IG_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Guards in the s2n style: propagate a failure upward unchanged. */
#define IG_GUARD(expr)                                                         \
	do {                                                                   \
		int ig_guard_rc_ = (expr);                                     \
		if (ig_guard_rc_ < 0)                                          \
			return ig_guard_rc_;                                   \
	} while (0)

/* Fail with <err> and the static reason <msg> unless <cond> holds. */
#define IG_ENSURE(cond, err, whyp, msg)                                        \
	do {                                                                   \
		if (!(cond)) {                                                 \
			if (whyp)                                              \
				*(whyp) = (msg);                               \
			return (err);                                          \
		}                                                      \
	} while (0)

const char *ig_strerror(int err);

#endif
