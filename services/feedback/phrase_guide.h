#pragma once

// The phrasing guidance engine, as plain values: it flags vague wording in a
// manager's comment, scores how specific the comment is, suggests concrete
// behaviours from the event type's library and composes a contextual
// sentence in the comment's language. It never proposes a verdict.
//
// Matching runs on normalised text (NFKC compatibility folding with utf8proc:
// full/half width; case folding; punctuation and whitespace collapsed to one
// space) through one Aho-Corasick automaton over every lexicon phrase and
// marker, so the cost per comment does not grow with the lexicon. Spans are
// reported as byte offsets into the original UTF-8 text. Immutable once
// built; safe to share between threads.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "perfflow/event/v1/event_types.pb.h"
#include "perfflow/feedback/v1/feedback_service.pb.h"

namespace perfflow::feedback {

// Normalised text and, for each of its bytes, the byte range of the source
// code point it came from.
struct NormalizedText {
  std::string text;
  std::vector<int> source_begin;
  std::vector<int> source_end;
};

// INVALID_ARGUMENT for invalid UTF-8.
absl::StatusOr<NormalizedText> Normalize(absl::string_view text);

// True when the text has a CJK ideograph: the guide answers in Chinese.
bool WrittenInChinese(absl::string_view text);

// The zh or en text, falling back to the other when one is empty.
std::string Localized(const event::v1::LocalizedText& text, bool zh);

struct AnalysisInput {
  std::string text;
  // Behaviours the reviewer ticked (from the type's library).
  std::vector<event::v1::Behaviour> chosen;
  // Display names of the cited evidence kinds.
  std::vector<std::string> cited_evidence;
  event::v1::LocalizedText event_name;
  event::v1::LocalizedText goal_name;
  std::vector<event::v1::Behaviour> library;
};

class PhraseGuide {
 public:
  // Parses lexicon YAML (see services/feedback/lexicon/default.yaml).
  static absl::StatusOr<v1::Lexicon> ParseLexicon(const std::string& yaml);
  static absl::StatusOr<PhraseGuide> Build(const v1::Lexicon& lexicon);

  // INVALID_ARGUMENT for invalid UTF-8.
  absl::StatusOr<v1::AnalyzeFeedbackResponse> Analyze(const AnalysisInput& input) const;

  size_t pattern_count() const { return patterns_.size(); }

 private:
  enum class PatternKind { kVague, kBehaviour, kEvidence };
  struct Pattern {
    PatternKind kind;
    v1::VagueClass vague_class;
    int length;  // bytes, normalised
    bool word_bounded;
  };
  struct Match {
    int pattern;
    int begin;  // normalised byte offsets
    int end;
  };

  void AddPattern(const std::string& normalized, Pattern pattern);
  void Finish();
  std::vector<Match> Scan(const std::string& text) const;

  v1::Lexicon lexicon_;
  std::vector<Pattern> patterns_;
  // Aho-Corasick as a full DFA: goto_[state * 256 + byte].
  std::vector<int> goto_;
  // Patterns ending at each state (following output links).
  std::vector<std::vector<int>> outputs_;
  int states_ = 1;
};

}  // namespace perfflow::feedback
