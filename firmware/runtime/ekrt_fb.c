/* Minimal bounds-checked flatbuffer reader: just tables, scalars and vectors.
 * Every access checks the buffer length; a failed check sets fb->bad and returns 0, so a
 * malformed model produces an error at init instead of a wild read. */
#include <string.h>

#include "ekrt_internal.h"

static int in_bounds(ekrt_fb_t *fb, uint32_t pos, uint32_t size)
{
    if (pos > fb->len || size > fb->len - pos) {
        fb->bad = 1;
        return 0;
    }
    return 1;
}

uint8_t ekrt_fb_u8(ekrt_fb_t *fb, uint32_t pos)
{
    return in_bounds(fb, pos, 1) ? fb->buf[pos] : 0;
}

uint16_t ekrt_fb_u16(ekrt_fb_t *fb, uint32_t pos)
{
    if (!in_bounds(fb, pos, 2)) {
        return 0;
    }
    return (uint16_t)(fb->buf[pos] | ((uint16_t)fb->buf[pos + 1] << 8));
}

uint32_t ekrt_fb_u32(ekrt_fb_t *fb, uint32_t pos)
{
    const uint8_t *b;
    if (!in_bounds(fb, pos, 4)) {
        return 0;
    }
    b = fb->buf + pos;
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

int32_t ekrt_fb_i32(ekrt_fb_t *fb, uint32_t pos)
{
    uint32_t u = ekrt_fb_u32(fb, pos);
    int32_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

uint64_t ekrt_fb_u64(ekrt_fb_t *fb, uint32_t pos)
{
    uint64_t lo = ekrt_fb_u32(fb, pos);
    uint64_t hi = ekrt_fb_u32(fb, pos + 4);
    return lo | (hi << 32);
}

float ekrt_fb_f32(ekrt_fb_t *fb, uint32_t pos)
{
    uint32_t u = ekrt_fb_u32(fb, pos);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

uint32_t ekrt_fb_table_at(ekrt_fb_t *fb, uint32_t pos)
{
    uint32_t off = ekrt_fb_u32(fb, pos);
    uint32_t t, vt;
    int32_t soff;
    uint16_t vt_size, t_size;
    if (fb->bad || off == 0 || off > fb->len - pos) {
        fb->bad = 1;
        return 0;
    }
    t = pos + off;
    soff = ekrt_fb_i32(fb, t);
    if (fb->bad) {
        return 0;
    }
    /* vtable = table - soffset, computed in 64 bits so no wrap can sneak past the check */
    {
        int64_t v = (int64_t)t - (int64_t)soff;
        if (v < 0 || v > (int64_t)fb->len - 4) {
            fb->bad = 1;
            return 0;
        }
        vt = (uint32_t)v;
    }
    vt_size = ekrt_fb_u16(fb, vt);
    t_size = ekrt_fb_u16(fb, vt + 2);
    if (vt_size < 4 || (vt_size & 1u) != 0 || !in_bounds(fb, vt, vt_size) || t_size < 4 ||
        !in_bounds(fb, t, t_size)) {
        fb->bad = 1;
        return 0;
    }
    return t;
}

uint32_t ekrt_fb_field(ekrt_fb_t *fb, uint32_t t, uint32_t id, uint32_t size)
{
    uint32_t vt, slot;
    uint16_t vt_size, t_size, off;
    if (fb->bad || t == 0) {
        return 0;
    }
    vt = (uint32_t)((int64_t)t - (int64_t)ekrt_fb_i32(fb, t));
    vt_size = ekrt_fb_u16(fb, vt);
    t_size = ekrt_fb_u16(fb, vt + 2);
    slot = 4u + 2u * id;
    if (slot + 2u > vt_size) {
        return 0; /* field not present in this (older) table layout */
    }
    off = ekrt_fb_u16(fb, vt + slot);
    if (off == 0) {
        return 0;
    }
    if ((uint32_t)off + size > t_size || !in_bounds(fb, t + off, size)) {
        fb->bad = 1;
        return 0;
    }
    return t + off;
}

uint32_t ekrt_fb_get_u32(ekrt_fb_t *fb, uint32_t t, uint32_t id, uint32_t dflt)
{
    uint32_t p = ekrt_fb_field(fb, t, id, 4);
    return p ? ekrt_fb_u32(fb, p) : dflt;
}

int32_t ekrt_fb_get_i32(ekrt_fb_t *fb, uint32_t t, uint32_t id, int32_t dflt)
{
    uint32_t p = ekrt_fb_field(fb, t, id, 4);
    return p ? ekrt_fb_i32(fb, p) : dflt;
}

uint8_t ekrt_fb_get_u8(ekrt_fb_t *fb, uint32_t t, uint32_t id, uint8_t dflt)
{
    uint32_t p = ekrt_fb_field(fb, t, id, 1);
    return p ? ekrt_fb_u8(fb, p) : dflt;
}

int8_t ekrt_fb_get_i8(ekrt_fb_t *fb, uint32_t t, uint32_t id, int8_t dflt)
{
    uint32_t p = ekrt_fb_field(fb, t, id, 1);
    uint8_t u;
    if (!p) {
        return dflt;
    }
    u = ekrt_fb_u8(fb, p);
    return (int8_t)(u >= 128u ? (int32_t)u - 256 : (int32_t)u);
}

uint64_t ekrt_fb_get_u64(ekrt_fb_t *fb, uint32_t t, uint32_t id, uint64_t dflt)
{
    uint32_t p = ekrt_fb_field(fb, t, id, 8);
    return p ? ekrt_fb_u64(fb, p) : dflt;
}

uint32_t ekrt_fb_get_table(ekrt_fb_t *fb, uint32_t t, uint32_t id)
{
    uint32_t p = ekrt_fb_field(fb, t, id, 4);
    return p ? ekrt_fb_table_at(fb, p) : 0;
}

uint32_t ekrt_fb_get_vec(ekrt_fb_t *fb, uint32_t t, uint32_t id, uint32_t elem_size,
                         uint32_t *count)
{
    uint32_t p = ekrt_fb_field(fb, t, id, 4);
    uint32_t off, v, n;
    *count = 0;
    if (!p) {
        return 0;
    }
    off = ekrt_fb_u32(fb, p);
    if (fb->bad || off == 0 || off > fb->len - p) {
        fb->bad = 1;
        return 0;
    }
    v = p + off;
    n = ekrt_fb_u32(fb, v);
    if (fb->bad || (elem_size != 0 && n > (fb->len - v - 4u) / elem_size)) {
        fb->bad = 1;
        return 0;
    }
    *count = n;
    return v + 4u;
}

uint32_t ekrt_fb_vec_table(ekrt_fb_t *fb, uint32_t vec, uint32_t count, uint32_t i)
{
    if (i >= count) {
        fb->bad = 1;
        return 0;
    }
    return ekrt_fb_table_at(fb, vec + 4u * i);
}
