/* Timing loops whose Cortex-M4 cycles the TRM predicts exactly, for checking m4cycles.
 * Built bare-metal for QEMU mps2-an386 (see tests/test_m4cycles.py, which holds the
 * predictions and their derivation):
 *   arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard -nostdlib \
 *     -Wl,-Ttext=0 loops.S -o loops.elf
 * Every case is a function whose loop runs N_ITER times between the labels <case>_begin and
 * <case>_end; the instruction before <case>_begin is a NOP so the loop's first instruction
 * pairs with nothing. A register-writing instruction never precedes a load that addresses with
 * it unless the case means to show the address-generation stall. */
    .syntax unified
    .cpu cortex-m4
    .fpu fpv4-sp-d16
    .thumb

    .equ N_ITER, 100
    .equ BUF, 0x20001000        /* SRAM scratch: word 0 holds its own address */
    .equ OUT, 0x20002000

    .section .text
    .word 0x20400000            /* initial SP: top of the 4 MB SRAM */
    .word reset
    .rept 14
    .word hang
    .endr

    .thumb_func
hang:
    b hang

    .thumb_func
    .global reset
reset:
    ldr r0, =0xE000ED88         /* CPACR: full access to CP10/CP11 (the FPU) */
    ldr r1, [r0]
    orr r1, r1, #(0xF << 20)
    str r1, [r0]
    dsb
    isb
    ldr r0, =BUF
    str r0, [r0]                /* BUF[0] = BUF: a load chain that never moves */
    movs r1, #8
    str r1, [r0, #4]
    str r1, [r0, #8]
    str r1, [r0, #12]
    ldr r0, =cases
1:  ldr r3, [r0], #4
    cbz r3, 2f
    push {r0}
    ldr r0, =BUF
    ldr r6, =OUT
    movs r5, #8
    movs r1, #N_ITER
    blx r3
    pop {r0}
    b 1b
2:  movs r0, #0x18              /* semihosting SYS_EXIT, ADP_Stopped_ApplicationExit */
    ldr r1, =0x20026
    bkpt 0xab
    b hang

    .ltorg
    .align 2
cases:
    .word ldr_chain, ldr_pipe, ldst_mix, mac, branch, multi, div, vfp, 0

/* Four loads, each addressed by the one before. */
    .thumb_func
ldr_chain:
    nop
    .global ldr_chain_begin
ldr_chain_begin:
    ldr r0, [r0]
    ldr r0, [r0]
    ldr.w r0, [r0]
    ldr r0, [r0]
    subs r1, r1, #1
    bne ldr_chain_begin
    .global ldr_chain_end
ldr_chain_end:
    bx lr

/* Six independent loads back to back (16- and 32-bit, word/byte/halfword, post-increment). */
    .thumb_func
ldr_pipe:
    mov r7, r0
    nop
    .global ldr_pipe_begin
ldr_pipe_begin:
    ldr r2, [r0]
    ldr r3, [r0, #4]
    ldr.w r4, [r0, #8]
    ldrb r8, [r0, #1]
    ldrh.w r9, [r0, #2]
    ldr r10, [r7], #4
    subs r1, r1, #1
    bne ldr_pipe_begin
    .global ldr_pipe_end
ldr_pipe_end:
    bx lr

/* Stores after loads, loads after stores, register-offset store, address-generation stall. */
    .thumb_func
ldst_mix:
    nop
    .global ldst_mix_begin
ldst_mix_begin:
    ldr r2, [r0]
    str r2, [r6]
    ldr r3, [r0, #4]
    str r3, [r6, r5]
    ldr r4, [r6, r5]
    add r8, r0, #4
    ldr r2, [r8]
    subs r1, r1, #1
    bne ldst_mix_begin
    .global ldst_mix_end
ldst_mix_end:
    bx lr

/* The multiply-accumulate family. */
    .thumb_func
mac:
    nop
    .global mac_begin
mac_begin:
    ldr r2, [r0, #4]
    ldr r3, [r0, #8]
    smlad r4, r2, r3, r4
    smlabb r5, r2, r3, r5
    smlal r6, r7, r2, r3
    mla r8, r2, r3, r8
    mul r9, r2, r3
    smulbb r10, r2, r3
    sxtb16 r11, r2
    subs r1, r1, #1
    bne mac_begin
    .global mac_end
mac_end:
    bx lr

/* Calls, returns (BX LR, POP {PC}), a not-taken CBZ, an unconditional branch. */
    .thumb_func
branch:
    push {lr}
    nop
    .global branch_begin
branch_begin:
    bl leaf
    bl leaf_pop
    cbz r1, 1f
    b 2f
1:  nop
2:  subs r1, r1, #1
    bne branch_begin
    .global branch_end
branch_end:
    pop {pc}

    .thumb_func
leaf:
    bx lr

    .thumb_func
leaf_pop:
    push {r4, lr}
    pop {r4, pc}

/* Load/store multiple and dual. */
    .thumb_func
multi:
    nop
    .global multi_begin
multi_begin:
    ldmia r0, {r2-r5}
    stmia r6, {r2-r5}
    ldrd r2, r3, [r0]
    strd r2, r3, [r6, #16]
    push {r2-r5}
    pop {r2-r5}
    subs r1, r1, #1
    bne multi_begin
    .global multi_end
multi_end:
    bx lr

/* Division: data-dependent on the core (2..12); the model takes its div= parameter. */
    .thumb_func
div:
    movs r2, #100
    nop
    .global div_begin
div_begin:
    udiv r3, r2, r5
    sdiv r4, r2, r5
    subs r1, r1, #1
    bne div_begin
    .global div_end
div_end:
    bx lr

/* Single-precision floating point. */
    .thumb_func
vfp:
    vmov.f32 s5, #1.0
    nop
    .global vfp_begin
vfp_begin:
    vldr s0, [r0, #4]
    vmla.f32 s1, s0, s5
    vadd.f32 s2, s1, s0
    vmul.f32 s3, s2, s5
    vstr s3, [r6]
    vdiv.f32 s4, s3, s5
    vmov r2, s3
    vpush {s0-s1}
    vpop {s0-s1}
    subs r1, r1, #1
    bne vfp_begin
    .global vfp_end
vfp_end:
    bx lr
