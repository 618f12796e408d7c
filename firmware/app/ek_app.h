/* The portable command loop: speaks the EEMBC / MLPerf Tiny runner protocol (+ ek- extensions)
 * over whatever link the board port provides. Uses only ek_model.h, ek_port.h, model_meta.h. */
#ifndef EK_APP_H
#define EK_APP_H

#ifdef __cplusplus
extern "C" {
#endif

#define EK_APP_VERSION "0.1.0"
#define EK_CMD_MAX 1024 /* longest accepted command, without the '%' */

/* Print the boot banner, initialise the model, print m-ready. Call once, after ek_port_init(). */
void ek_app_begin(void);
/* Process one received byte (commands complete on '%'). Never fails, never blocks. */
void ek_app_feed(int byte);
/* ek_port_init + ek_app_begin + read/feed until the link closes (host) or forever. */
int ek_app_main(void);

#ifdef __cplusplus
}
#endif
#endif /* EK_APP_H */
