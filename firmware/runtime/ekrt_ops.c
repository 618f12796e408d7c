/* The operator table the interpreter walks: {BuiltinOperator, prepare, reference eval, may ask
 * for scratch, parameter bytes}.
 * An op's prepare may swap in an optimised eval (a variant) chosen from the shapes. */
#include "ekrt_internal.h"

const ekrt_op_reg_t ekrt_op_table[] = {
    {EKRT_OP_ADD, ekrt_prepare_add, ekrt_eval_add, 0, EKRT_PARAMS(add)},
    {EKRT_OP_AVERAGE_POOL_2D, ekrt_prepare_avgpool, ekrt_eval_avgpool, 0, EKRT_PARAMS(pool)},
    {EKRT_OP_CONV_2D, ekrt_prepare_conv2d, ekrt_eval_conv2d, 1, EKRT_PARAMS(conv)},
    {EKRT_OP_DEPTHWISE_CONV_2D, ekrt_prepare_depthwise_conv2d, ekrt_eval_depthwise_conv2d, 0,
     EKRT_PARAMS(conv)},
    {EKRT_OP_DEQUANTIZE, ekrt_prepare_dequantize, ekrt_eval_dequantize, 0, EKRT_PARAMS(qnt)},
    {EKRT_OP_FULLY_CONNECTED, ekrt_prepare_fully_connected, ekrt_eval_fully_connected, 1,
     EKRT_PARAMS(fc)},
    {EKRT_OP_MAX_POOL_2D, ekrt_prepare_maxpool, ekrt_eval_maxpool, 0, EKRT_PARAMS(pool)},
    {EKRT_OP_RESHAPE, ekrt_prepare_reshape, ekrt_eval_reshape, 0, EKRT_PARAMS(bytes)},
    {EKRT_OP_SOFTMAX, ekrt_prepare_softmax, ekrt_eval_softmax, 0, EKRT_PARAMS(sm)},
    {EKRT_OP_PAD, ekrt_prepare_pad, ekrt_eval_pad, 0, EKRT_PARAMS(pad)},
    {EKRT_OP_TRANSPOSE, ekrt_prepare_transpose, ekrt_eval_transpose, 0, EKRT_PARAMS(tr)},
    {EKRT_OP_MEAN, ekrt_prepare_mean, ekrt_eval_mean, 0, EKRT_PARAMS(mean)},
    {EKRT_OP_PADV2, ekrt_prepare_pad, ekrt_eval_pad, 0, EKRT_PARAMS(pad)},
    {EKRT_OP_QUANTIZE, ekrt_prepare_quantize, ekrt_eval_quantize, 0, EKRT_PARAMS(qnt)},
};

const uint32_t ekrt_op_table_len = sizeof ekrt_op_table / sizeof ekrt_op_table[0];

const ekrt_op_reg_t *ekrt_op_find(int32_t code)
{
    uint32_t i;
    for (i = 0; i < ekrt_op_table_len; ++i) {
        if (ekrt_op_table[i].code == code) {
            return &ekrt_op_table[i];
        }
    }
    return NULL;
}
