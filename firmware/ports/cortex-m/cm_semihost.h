/* ARM semihosting calls (BKPT 0xAB), for QEMU images only: on a board without a debugger the
 * BKPT faults, so only code the harness enables under QEMU (-semihosting-config
 * enable=on,target=native) may call these. */
#ifndef EK_CM_SEMIHOST_H
#define EK_CM_SEMIHOST_H

#include <stddef.h>
#include <stdint.h>

#define CM_SEMI_MODE_RB 1u /* fopen-style mode index of "rb" */
#define CM_SEMI_MODE_WB 5u /* "wb" */

/* A host file handle (>= 0), or -1. */
int32_t cm_semi_open(const char *path, uint32_t mode);
void cm_semi_close(int32_t fd);
/* Bytes transferred (0 at end of file), or -1 on an error. A read from a FIFO blocks until the
 * writer has sent something and returns what is there. */
int32_t cm_semi_read(int32_t fd, void *buf, uint32_t n);
int32_t cm_semi_write(int32_t fd, const void *buf, uint32_t n);
/* Length of an open file, or -1. */
int32_t cm_semi_flen(int32_t fd);
/* A NUL-terminated string to QEMU's console. */
void cm_semi_write0(const char *s);
/* QEMU's "<kernel> <-append text>" into buf (NUL-terminated); 0, or -1 if it does not fit. */
int32_t cm_semi_cmdline(char *buf, uint32_t cap);
/* End the emulation with this exit code (SYS_EXIT_EXTENDED: QEMU exits with it). */
void cm_semi_exit(uint32_t code);

#endif
