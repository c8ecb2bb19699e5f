#pragma once

// The rule-condition language of event types, shared by the registry (which
// parses every condition when a type is applied, so a bad rule never reaches
// runtime) and the evidence validator (which evaluates them).
//
//   expr       := or
//   or         := and ("or" and)*
//   and        := unary ("and" unary)*
//   unary      := "not" unary | "(" expr ")" | "exists" path | comparison
//   comparison := operand [ ("==" | "!=" | "<" | "<=" | ">" | ">=") operand
//                         | "in" "[" literal ("," literal)* "]" ]
//   operand    := path | literal
//   path       := ident ("." ident)*            e.g. attributes.delay_days
//   literal    := number | 'text' | "text" | true | false | null
//
// A bare operand is true when its value is truthy (non-null, non-zero,
// non-empty, true). Comparing values of different types is false (never an
// error), so a rule over a missing attribute simply does not hold.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"

namespace perfflow {

// A runtime value: null, bool, number or string.
using CondValue = std::variant<std::monostate, bool, double, std::string>;

// Resolves a dotted path ("attributes.delay_days") to a value; nullopt when
// the path names nothing (then it is null).
using CondResolver = std::function<std::optional<CondValue>(const std::string& path)>;

class Condition {
 public:
  // INVALID_ARGUMENT "position N: reason" on a syntax error (1-based column).
  static absl::StatusOr<Condition> Parse(const std::string& text);

  bool Evaluate(const CondResolver& resolve) const;
  // Every path the condition reads, e.g. for checking they are known.
  const std::vector<std::string>& paths() const { return paths_; }
  const std::string& text() const { return text_; }

  struct Node;

 private:
  std::shared_ptr<const Node> root_;
  std::vector<std::string> paths_;
  std::string text_;
};

}  // namespace perfflow
