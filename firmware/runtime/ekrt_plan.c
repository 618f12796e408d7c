/* Arena planner: greedy by size (largest first), each tensor at the lowest offset that does
 * not collide with an already placed tensor whose lifetime [first, last] overlaps. Constant
 * tensors stay in flash and are never planned. */
#include "ekrt_internal.h"

#define EKRT_ALIGN 16u
#define EKRT_PLAN_MAX 0x7FFFFFF0u

/* 64-bit so a malformed model with huge tensors cannot wrap offsets */
static uint64_t align_up(uint32_t v)
{
    return ((uint64_t)v + (EKRT_ALIGN - 1u)) & ~(uint64_t)(EKRT_ALIGN - 1u);
}

static int lifetimes_overlap(const ekrt_plan_t *a, const ekrt_plan_t *b)
{
    return a->first <= b->last && b->first <= a->last;
}

size_t ekrt_plan(ekrt_plan_t *t, uint32_t n)
{
    uint32_t i, j;
    uint64_t total = 0;
    for (i = 0; i < n; ++i) {
        t[i].placed = 0;
    }
    for (;;) {
        /* pick the largest unplaced activation tensor (n is small; O(n^2) is fine) */
        int32_t best = -1;
        uint64_t off;
        int moved;
        for (i = 0; i < n; ++i) {
            if (t[i].placed || t[i].is_const || t[i].first < 0) {
                continue;
            }
            if (best < 0 || t[i].bytes > t[best].bytes) {
                best = (int32_t)i;
            }
        }
        if (best < 0) {
            break;
        }
        off = 0;
        do {
            moved = 0;
            for (j = 0; j < n; ++j) {
                const ekrt_plan_t *o = &t[j];
                if (!o->placed || !lifetimes_overlap(o, &t[best])) {
                    continue;
                }
                if (off < o->offset + align_up(o->bytes) &&
                    o->offset < off + align_up(t[best].bytes)) {
                    off = o->offset + align_up(o->bytes);
                    moved = 1;
                }
            }
        } while (moved);
        if (off + align_up(t[best].bytes) > EKRT_PLAN_MAX) {
            return EKRT_PLAN_MAX + 1u; /* cannot fit any arena; caller reports it */
        }
        t[best].offset = (uint32_t)off;
        t[best].placed = 1;
        if (off + align_up(t[best].bytes) > total) {
            total = off + align_up(t[best].bytes);
        }
    }
    return (size_t)total;
}
