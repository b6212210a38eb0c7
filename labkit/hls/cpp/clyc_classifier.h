// clyc_classifier.h -- top function of the IP (Vitis HLS set_top = LABKIT_TOP).
#ifndef CLYC_CLASSIFIER_H_
#define CLYC_CLASSIFIER_H_

#include "labkit_axis.h"
#include "labkit_params.h"

// in_stream : batch * LABKIT_WORDS_PER_PULSE beats of packed raw ADC codes
// out_stream: batch * LABKIT_N_OUT beats, one logit each (ap_fixed bits sign-extended to 32),
//             TLAST on the very last beat of the batch
// batch     : pulses in this run (AXI-Lite register of bundle "control", with ap_ctrl_hs)
void LABKIT_TOP(hls::stream<axis_word_t> &in_stream, hls::stream<axis_word_t> &out_stream, unsigned int batch);

#endif
