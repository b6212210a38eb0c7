// labkit_emu.cpp -- plain C entry points of the emulation library libclyc_emu.so.
//
// One translation unit (one g++ call): this file includes the hls4ml network and the stream
// wrapper, so labkit builds the library with
//   g++ -O2 -fPIC -shared -I<project>/firmware -I<project>/firmware/ap_types labkit_emu.cpp
// The contract (consumed by labkit.hls.ipsim and the board stage) is documented in
// labkit/emulation.py; return codes: >= 0 output words, -1 input ran dry, -2 output
// capacity too small, -3 batch == 0 or batch > LABKIT_MAX_BATCH.
#include <cstdint>

// LABKIT_LINK_NETWORK: the network is hls4ml's own compiled object (myproject.o, linked by
// labkit.hls.wrapper.build_emulation when it is newer than the project's sources), not compiled again
#ifndef LABKIT_LINK_NETWORK
#include "myproject.cpp"
#else
#include "myproject.h"
#endif
#include "clyc_classifier.cpp"

extern "C" {

int labkit_emu_info(uint32_t *n_samples, uint32_t *words_per_pulse, uint32_t *n_out, uint32_t *max_batch) {
    if (n_samples) *n_samples = LABKIT_N_SAMPLES;
    if (words_per_pulse) *words_per_pulse = LABKIT_WORDS_PER_PULSE;
    if (n_out) *n_out = LABKIT_N_OUT;
    if (max_batch) *max_batch = LABKIT_MAX_BATCH;
    return 0;
}

// the input stage: 1 = baseline minus sample (course.ini [input_stage]), 0 = the ADC codes unchanged
int labkit_emu_input_baseline(void) { return LABKIT_INPUT_BASELINE; }

int labkit_emu_run(uint32_t batch, const uint32_t *in_words, const uint8_t *in_last, uint32_t n_in,
                   uint32_t *out_words, uint8_t *out_last, uint32_t out_capacity, uint32_t *in_consumed) {
    if (in_consumed) *in_consumed = 0;
    if (batch == 0 || batch > LABKIT_MAX_BATCH) return -3;
    const uint64_t n_results = (uint64_t)batch * LABKIT_N_OUT;
    if ((uint64_t)out_capacity < n_results || (n_results && !out_words)) return -2;
    const uint64_t needed = (uint64_t)batch * LABKIT_WORDS_PER_PULSE;
    if ((uint64_t)n_in < needed || !in_words) {
        // the IP reads every word the DMA offers, then waits forever for the rest
        if (in_consumed) *in_consumed = in_words ? n_in : 0;
        return -1;
    }

    hls::stream<axis_word_t> in_stream("in_stream"), out_stream("out_stream");
    for (uint32_t i = 0; i < n_in; i++) {
        axis_word_t beat;
        beat.data = in_words[i];
        beat.keep = -1;
        beat.strb = -1;
        beat.last = in_last ? (in_last[i] != 0) : (i + 1 == n_in); // the DMA's MM2S sets TLAST on its last beat
        in_stream.write(beat);
    }

    LABKIT_TOP(in_stream, out_stream, batch); // batch -> register 0x10, then ap_start

    if (in_consumed) *in_consumed = n_in - (uint32_t)in_stream.size();
    int n_out = 0;
    while (!out_stream.empty() && (uint32_t)n_out < out_capacity) {
        axis_word_t beat = out_stream.read();
        out_words[n_out] = (uint32_t)beat.data.to_uint();
        if (out_last) out_last[n_out] = (uint8_t)beat.last.to_uint();
        n_out++;
    }
    return n_out;
}

} // extern "C"
