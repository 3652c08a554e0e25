// How graded programs report to the grader, so that a submission cannot forge its results.
//
// The grader starts a test or benchmark program with DTLAB_GRADER=1 and writes one line to rank
// 0's standard input: a fresh random nonce and the world size it asked for. The program reads that
// line before any submission code can run (from .preinit_array, which runs before every
// constructor; the grader rejects submissions that put code there), so the nonce lives only in
// trusted memory. At the end rank 0 prints its results between two markers that carry the nonce.
// The grader accepts exactly one such block; a submission that prints a fake block cannot know the
// nonce, and one that stops the program early leaves no block at all.
#pragma once

#include <string>

namespace dtlab::harness {

// True when a grader started this program.
bool graded();

// The nonce and the world size the grader asked for: rank 0 of a graded run only (empty and 0
// elsewhere).
const std::string& nonce();
int expected_world_size();

// Prints json between the markers on standard output (rank 0 only, graded runs only).
void report(const std::string& json);

// The markers, for the grader's parser.
std::string begin_marker(const std::string& nonce);
std::string end_marker(const std::string& nonce);

}  // namespace dtlab::harness
