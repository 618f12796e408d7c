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

/* end of the free space starting at `from` among the entries live with entry s (other than
 * s), up to front; `from` itself if an entry covers it */
static uint64_t free_to(const ekrt_plan_t *t, uint32_t n, uint32_t s, uint64_t from, uint64_t front)
{
    uint64_t end = front;
    uint32_t j;
    for (j = 0; j < n; ++j) {
        if (j == s || !t[j].placed || !lifetimes_overlap(&t[j], &t[s])) {
            continue;
        }
        if (t[j].offset <= from && from < t[j].offset + align_up(t[j].bytes)) {
            return from;
        }
        if (t[j].offset > from && t[j].offset < end) {
            end = t[j].offset;
        }
    }
    return end;
}

uint64_t ekrt_scratch_move(ekrt_plan_t *t, uint32_t n, uint32_t s, uint64_t front)
{
    uint64_t best_at = t[s].offset, best = free_to(t, n, s, t[s].offset, front) - t[s].offset;
    uint32_t j;
    /* a free run starts at 0 or where an entry live with s ends */
    for (j = 0; j <= n; ++j) {
        uint64_t at, end;
        if (j < n && (j == s || !t[j].placed || !lifetimes_overlap(&t[j], &t[s]))) {
            continue;
        }
        at = j < n ? t[j].offset + align_up(t[j].bytes) : 0u;
        end = free_to(t, n, s, at, front);
        if (end - at > best) {
            best = end - at;
            best_at = at;
        }
    }
    t[s].offset = (uint32_t)best_at;
    return best;
}
