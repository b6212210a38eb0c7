// clyc_classifier.cpp -- AXI-Stream wrapper around the hls4ml network (io_parallel).
//
// For each of `batch` pulses: read LABKIT_WORDS_PER_PULSE words, unpack the ADC codes
// (sample 2k in the low lane), compute x exactly like labkit.data.prep.transform (LABKIT_INPUT_BASELINE 1:
// the integer baseline minus the sample, as preprocess; 0: the code itself, for a model trained on raw
// codes), run myproject(), and emit LABKIT_N_OUT logit words.
// Every constant comes from the generated labkit_params.h (course.ini).
//
// Test-only macros (never set for the real IP; used by tests/test_stream_wrapper.py to prove
// the checks catch the classic mistakes):
//   LABKIT_BUG_NO_TLAST    never raise TLAST               -> the DMA S2MM would never finish
//   LABKIT_BUG_INT_LOGITS  value-convert logits to int     -> fraction bits lost
#include "clyc_classifier.h"
#include "myproject.h"

// The hardware input stage writes the bits of x straight into input_t: the network's input
// precision must be exactly the input transform's format.
static_assert(input_t::width == LABKIT_INPUT_WIDTH && input_t::iwidth == LABKIT_INPUT_INTEGER,
              "hls4ml input precision differs from the input transform's format: regenerate the project");
static_assert(input_t::width - input_t::iwidth == LABKIT_INPUT_FRAC_BITS, "input fraction bits");
static_assert(result_t::width == LABKIT_LOGIT_WIDTH && result_t::iwidth == LABKIT_LOGIT_INTEGER,
              "hls4ml output precision differs from course.ini logit_width/logit_integer");

typedef ap_uint<LABKIT_ADC_BITS> adc_t;
// sum of 2**baseline_log2 codes, then the signed difference baseline - sample
typedef ap_uint<LABKIT_ADC_BITS + LABKIT_BASELINE_LOG2> baseline_sum_t;
typedef ap_int<LABKIT_INPUT_WIDTH> diff_t;

static void read_pulse(hls::stream<axis_word_t> &in_stream, adc_t samples[LABKIT_N_SAMPLES]) {
read_words:
    for (int w = 0; w < LABKIT_WORDS_PER_PULSE; w++) {
#pragma HLS PIPELINE II = 1
        axis_word_t beat = in_stream.read();
        for (int lane = 0; lane < LABKIT_SAMPLES_PER_WORD; lane++) {
            int i = w * LABKIT_SAMPLES_PER_WORD + lane;
            if (i < LABKIT_N_SAMPLES) {
                // zero-extended code in the low bits of its 16-bit lane
                samples[i] = beat.data.range(lane * LABKIT_LANE_BITS + LABKIT_ADC_BITS - 1, lane * LABKIT_LANE_BITS);
            }
        }
    }
}

static void input_stage(const adc_t samples[LABKIT_N_SAMPLES], input_t x[LABKIT_N_SAMPLES]) {
#pragma HLS INLINE
#if !LABKIT_INPUT_BASELINE
raw:
    for (int i = 0; i < LABKIT_N_SAMPLES; i++) {
        // x = code * 2**-input_frac_bits: the code's bits ARE x's bits
        x[i].range(LABKIT_INPUT_WIDTH - 1, 0) = ap_uint<LABKIT_INPUT_WIDTH>(samples[i]);
    }
#else
    baseline_sum_t sum = 0;
baseline:
    for (int i = 0; i < (1 << LABKIT_BASELINE_LOG2); i++) {
        sum += samples[i];
    }
    adc_t base = sum >> LABKIT_BASELINE_LOG2; // floor, as in preprocess()
subtract:
    for (int i = 0; i < LABKIT_N_SAMPLES; i++) {
        diff_t diff = diff_t(base) - diff_t(samples[i]);
        // x = diff * 2**-input_frac_bits: the integer's bits ARE x's bits (no rounding anywhere)
        x[i].range(LABKIT_INPUT_WIDTH - 1, 0) = diff.range(LABKIT_INPUT_WIDTH - 1, 0);
    }
#endif
}

static ap_uint<LABKIT_WORD_BITS> logit_word(const result_t &logit) {
#ifdef LABKIT_BUG_INT_LOGITS
    return ap_uint<LABKIT_WORD_BITS>((int)logit); // WRONG on purpose: value conversion
#else
    ap_int<LABKIT_LOGIT_WIDTH> bits;
    bits.range(LABKIT_LOGIT_WIDTH - 1, 0) = logit.range(LABKIT_LOGIT_WIDTH - 1, 0); // bit copy
    ap_int<LABKIT_WORD_BITS> wide = bits;                                            // sign-extend
    return ap_uint<LABKIT_WORD_BITS>(wide);
#endif
}

void LABKIT_TOP(hls::stream<axis_word_t> &in_stream, hls::stream<axis_word_t> &out_stream, unsigned int batch) {
#pragma HLS INTERFACE mode = axis port = in_stream
#pragma HLS INTERFACE mode = axis port = out_stream
#pragma HLS INTERFACE mode = s_axilite port = batch bundle = control
#pragma HLS INTERFACE mode = s_axilite port = return bundle = control

pulses:
    for (unsigned int p = 0; p < batch; p++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = LABKIT_MAX_BATCH
        adc_t samples[LABKIT_N_SAMPLES];
#pragma HLS ARRAY_PARTITION variable = samples complete
        input_t x[LABKIT_N_SAMPLES];
#pragma HLS ARRAY_PARTITION variable = x complete
        result_t logits[LABKIT_N_OUT];
#pragma HLS ARRAY_PARTITION variable = logits complete

        read_pulse(in_stream, samples);
        input_stage(samples, x);
        myproject(x, logits);

    write_logits:
        for (int k = 0; k < LABKIT_N_OUT; k++) {
#pragma HLS PIPELINE II = 1
            axis_word_t beat;
            beat.data = logit_word(logits[k]);
            beat.keep = -1;
            beat.strb = -1;
#ifdef LABKIT_BUG_NO_TLAST
            beat.last = 0; // WRONG on purpose
#else
            beat.last = (p == batch - 1) && (k == LABKIT_N_OUT - 1);
#endif
            out_stream.write(beat);
        }
    }
}
