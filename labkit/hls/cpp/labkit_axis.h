// labkit_axis.h -- AXI-Stream beat type and hls::stream, on and off the HLS tool.
//
// Under Vitis HLS (__SYNTHESIS__ defined, or the tool's own C simulation with
// LABKIT_VITIS_HEADERS) the real ap_axi_sdata.h / hls_stream.h are used.  With plain g++
// (labkit's emulation library) hls::stream comes from the ap_types shipped with hls4ml and
// the AXI-Stream side channels are a small struct with the same member names as
// ap_axiu<32,0,0,0>: data, keep, strb, last.
#ifndef LABKIT_AXIS_H_
#define LABKIT_AXIS_H_

#include "ap_int.h"
#include "hls_stream.h"
#include "labkit_params.h"

#if defined(__SYNTHESIS__) || defined(LABKIT_VITIS_HEADERS)
#include "ap_axi_sdata.h"
typedef ap_axiu<LABKIT_WORD_BITS, 0, 0, 0> axis_word_t;
#else
struct axis_word_t {
    ap_uint<LABKIT_WORD_BITS> data;
    ap_uint<LABKIT_WORD_BITS / 8> keep;
    ap_uint<LABKIT_WORD_BITS / 8> strb;
    ap_uint<1> last;
};
#endif

#endif
