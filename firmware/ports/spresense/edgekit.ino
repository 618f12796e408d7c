/* edgekit firmware for Sony Spresense (Arduino main core): the port's sketch.
 * `edgekit export --board <board>` copies it into the rendered project with a header for that
 * board (its Tools menu choices, the arduino-cli and edgekit flash lines: firmware.sketch_header)
 * and the sources flat in src/. */
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
