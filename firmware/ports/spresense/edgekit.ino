/* edgekit firmware for Sony Spresense (Arduino main core).
 *
 * Rendered by `edgekit export --board spresense`: src/ holds the command loop, the runtime
 * (edgekit-rt by default; TensorFlow Lite Micro when rendered with --runtime tflm, see
 * src/ek_config.h) and the model. Serial at 115200 baud speaks the EEMBC / MLPerf Tiny runner
 * protocol; `edgekit bench --port /dev/ttyUSB0 --board spresense` drives it. */
#include <Arduino.h>

#include "src/ek_config.h"
#include "src/ek_app.h"
#include "src/ek_port.h"

void setup() {
  ek_port_init();
  ek_app_begin();
}

void loop() {
  while (Serial.available() > 0) ek_app_feed(Serial.read());
}
