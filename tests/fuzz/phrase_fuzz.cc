// libFuzzer harness: the feedback phrase analyser (services/feedback/
// phrase_guide) with the default lexicon. Any comment must be analysed or
// refused with INVALID_ARGUMENT (invalid UTF-8), never crash.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "common/files.h"
#include "services/feedback/phrase_guide.h"

namespace fb = perfflow::feedback;

namespace {

const fb::PhraseGuide& Guide() {
  static const fb::PhraseGuide* guide = [] {
    auto yaml = perfflow::ReadTextFile(PERFFLOW_SOURCE_DIR "/services/feedback/lexicon/default.yaml");
    if (!yaml.ok()) __builtin_trap();
    auto lexicon = fb::PhraseGuide::ParseLexicon(*yaml);
    if (!lexicon.ok()) __builtin_trap();
    auto built = fb::PhraseGuide::Build(*lexicon);
    if (!built.ok()) __builtin_trap();
    return new fb::PhraseGuide(std::move(*built));
  }();
  return *guide;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fb::AnalysisInput input;
  input.text.assign(reinterpret_cast<const char*>(data), size);
  input.cited_evidence = {"signed contract", "客户验收单"};
  input.event_name.set_en("contract signed");
  input.event_name.set_zh("合同签订");
  auto analysis = Guide().Analyze(input);
  if (!analysis.ok() && analysis.status().code() != absl::StatusCode::kInvalidArgument) __builtin_trap();
  return 0;
}
