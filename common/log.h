/*
 * log.h - one line per event to stderr: time, level, thread tag, message.
 * Never pass secrets (PINs, tokens, keys) to these functions.
 */
#ifndef IG_LOG_H
#define IG_LOG_H

enum log_level { LOG_ERR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern int log_verbosity; /* messages above this level are dropped */

void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Name the calling thread in its log lines ("w0", "admin", "hsm1"). */
void log_set_thread(const char *tag);

/* The writer thread for threads that must not block: log_start before
 * any of them logs; log_stop once all of them have stopped (it writes what
 * they left and frees their rings).  Without log_start every line is
 * written by its own thread. */
int log_start(void);
void log_stop(void);
/* From now on the calling thread's lines go through a ring of its own to
 * the writer: logging never blocks it (a full ring drops the line and the
 * writer counts it).  0, or -1 (no writer, no memory: lines are written
 * directly). */
int log_nonblocking(void);

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                         \
	do {                                                                   \
		if (log_verbosity >= LOG_DEBUG)                                \
			log_msg(LOG_DEBUG, __VA_ARGS__);                       \
	} while (0)
#endif
