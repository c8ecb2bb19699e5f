// Comments analysed per second with a 50-phrase and a 500-phrase lexicon, in
// the same run: the matcher is one automaton, so the cost must not grow with
// the lexicon (goal: the 500-phrase rate is at least half the 50-phrase rate).
// Run: ./scripts/bench.sh phrases

#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "services/feedback/phrase_guide.h"

namespace perfflow::feedback {
namespace {

const std::vector<std::string>& Comments() {
  static const std::vector<std::string> kComments = {
      "表现良好，继续努力",
      "你在XX项目中主动协调解决CAN总线通信协议接口问题（附会议纪要截图），保障了整车厂测试进度",
      "Good job, keep it up!",
      "Coordinated the CAN bus interface fix with the OEM; meeting minutes attached.",
      "他平时很辛苦，任劳任怨，加班加点完成了首件检验",
      "Delivered the requirements document two days early (see evidence), great work this quarter.",
  };
  return kComments;
}

// The shipped lexicon, padded with synthetic phrases to `size`.
PhraseGuide GuideWith(int size) {
  std::ifstream in(std::string(PERFFLOW_SOURCE_DIR) + "/services/feedback/lexicon/default.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  v1::Lexicon lexicon = *PhraseGuide::ParseLexicon(ss.str());
  for (int i = lexicon.phrases_size(); i < size; ++i) {
    auto* p = lexicon.add_phrases();
    p->set_text(i % 2 ? absl::StrCat("表现评语", i, "号") : absl::StrCat("vague phrase number ", i));
    p->set_class_(v1::VAGUE_CLASS_EMPTY_PRAISE);
  }
  lexicon.mutable_phrases()->DeleteSubrange(size,
                                            lexicon.phrases_size() - size > 0 ? lexicon.phrases_size() - size : 0);
  return *PhraseGuide::Build(lexicon);
}

void Analyze(benchmark::State& state, int phrases) {
  const PhraseGuide guide = GuideWith(phrases);
  size_t i = 0;
  for (auto _ : state) {
    auto r = guide.Analyze(AnalysisInput{Comments()[i++ % Comments().size()], {}, {}, {}, {}, {}});
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Analyze50(benchmark::State& state) { Analyze(state, 50); }
void BM_Analyze500(benchmark::State& state) { Analyze(state, 500); }
BENCHMARK(BM_Analyze50);
BENCHMARK(BM_Analyze500);

}  // namespace
}  // namespace perfflow::feedback

BENCHMARK_MAIN();
