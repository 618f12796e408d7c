/* The TFLite flatbuffer schema (tensorflow/compiler/mlir/lite/schema/schema.fbs, version 3) as
 * far as edgekit-rt reads it: every table field by name. A field's slot is its position in the
 * table's declaration (deprecated fields keep theirs), so these numbers never change for a
 * released schema. Read them with ekrt_fb_get_*(fb, table, SLOT, default). */
#ifndef EKRT_SCHEMA_H
#define EKRT_SCHEMA_H

/* table Model */
#define EKRT_MODEL_VERSION 0u
#define EKRT_MODEL_OPERATOR_CODES 1u
#define EKRT_MODEL_SUBGRAPHS 2u
#define EKRT_MODEL_BUFFERS 4u
#define EKRT_SCHEMA_VERSION 3u /* the only Model.version edgekit-rt reads */

/* table SubGraph */
#define EKRT_SUBGRAPH_TENSORS 0u
#define EKRT_SUBGRAPH_INPUTS 1u
#define EKRT_SUBGRAPH_OUTPUTS 2u
#define EKRT_SUBGRAPH_OPERATORS 3u

/* table Tensor */
#define EKRT_TENSOR_SHAPE 0u
#define EKRT_TENSOR_TYPE 1u
#define EKRT_TENSOR_BUFFER 2u
#define EKRT_TENSOR_QUANTIZATION 4u

/* table QuantizationParameters */
#define EKRT_QUANT_SCALE 2u
#define EKRT_QUANT_ZERO_POINT 3u
#define EKRT_QUANT_QUANTIZED_DIMENSION 6u

/* table Buffer: data inline, or (offset, size) past the flatbuffer for models over 2 GB */
#define EKRT_BUFFER_DATA 0u
#define EKRT_BUFFER_OFFSET 1u
#define EKRT_BUFFER_SIZE 2u

/* table OperatorCode: builtin_code replaced the int8 deprecated_builtin_code (schema v3a); a
 * reader takes the larger of the two */
#define EKRT_OPCODE_DEPRECATED_BUILTIN_CODE 0u
#define EKRT_OPCODE_BUILTIN_CODE 3u

/* table Operator */
#define EKRT_OPERATOR_OPCODE_INDEX 0u
#define EKRT_OPERATOR_INPUTS 1u
#define EKRT_OPERATOR_OUTPUTS 2u
#define EKRT_OPERATOR_BUILTIN_OPTIONS_TYPE 3u
#define EKRT_OPERATOR_BUILTIN_OPTIONS 4u

/* union BuiltinOptions: the member types edgekit-rt reads */
enum {
    EKRT_OPT_CONV = 1,    /* Conv2DOptions */
    EKRT_OPT_DWCONV = 2,  /* DepthwiseConv2DOptions */
    EKRT_OPT_POOL = 5,    /* Pool2DOptions */
    EKRT_OPT_FC = 8,      /* FullyConnectedOptions */
    EKRT_OPT_SOFTMAX = 9, /* SoftmaxOptions */
    EKRT_OPT_ADD = 11,    /* AddOptions */
    EKRT_OPT_REDUCER = 27 /* ReducerOptions */
};

/* table Conv2DOptions */
#define EKRT_CONV_PADDING 0u
#define EKRT_CONV_STRIDE_W 1u
#define EKRT_CONV_STRIDE_H 2u
#define EKRT_CONV_ACTIVATION 3u
#define EKRT_CONV_DILATION_W 4u
#define EKRT_CONV_DILATION_H 5u

/* table DepthwiseConv2DOptions */
#define EKRT_DWCONV_PADDING 0u
#define EKRT_DWCONV_STRIDE_W 1u
#define EKRT_DWCONV_STRIDE_H 2u
#define EKRT_DWCONV_DEPTH_MULTIPLIER 3u
#define EKRT_DWCONV_ACTIVATION 4u
#define EKRT_DWCONV_DILATION_W 5u
#define EKRT_DWCONV_DILATION_H 6u

/* table Pool2DOptions */
#define EKRT_POOL_PADDING 0u
#define EKRT_POOL_STRIDE_W 1u
#define EKRT_POOL_STRIDE_H 2u
#define EKRT_POOL_FILTER_W 3u
#define EKRT_POOL_FILTER_H 4u
#define EKRT_POOL_ACTIVATION 5u

/* table FullyConnectedOptions */
#define EKRT_FC_ACTIVATION 0u
#define EKRT_FC_WEIGHTS_FORMAT 1u /* 0 = DEFAULT; shuffled formats are refused */

/* table SoftmaxOptions */
#define EKRT_SOFTMAX_BETA 0u

/* table AddOptions */
#define EKRT_ADD_ACTIVATION 0u

/* enum BuiltinOperator: the code of a custom operator */
#define EKRT_BUILTIN_CUSTOM 32

#endif
