// Things chosen by name on the command line (strategies, on the CPU and on the GPU): a map from
// names to factories that later code can add to, and one clear error for a name it does not know.
#pragma once

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>
#include <string>
#include <vector>

#include "dtlab/error.hpp"

namespace dtlab {

template <class Factory>
class Registry {
 public:
  // what: how the error names an unknown entry, e.g. "strategy".
  Registry(std::string what, std::map<std::string, Factory> entries)
      : what_(std::move(what)), entries_(std::move(entries)) {}

  void add(const std::string& name, Factory factory) { entries_[name] = std::move(factory); }

  std::vector<std::string> names() const {
    std::vector<std::string> n;
    for (const auto& [name, f] : entries_) n.push_back(name);
    return n;
  }

  const Factory& at(const std::string& name) const {
    const auto it = entries_.find(name);
    if (it == entries_.end())
      throw Error(fmt::format("unknown {} '{}'; known: {}", what_, name, fmt::join(names(), ", ")));
    return it->second;
  }

 private:
  std::string what_;
  std::map<std::string, Factory> entries_;
};

}  // namespace dtlab
