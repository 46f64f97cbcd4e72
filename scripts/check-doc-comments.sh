#!/usr/bin/env bash
# Every public declaration a library user reaches with `import Vonnx` has a /// comment:
# those of Sources/Vonnx and of the modules it re-exports or shows in its API (VonnxIR, and
# VonnxVulkan's through Session.vulkan and DeviceTensor.device), enum cases and protocol
# requirements included. Exempt: members of an extension that adds a conformance, and
# `description` (DocC shows the protocol's documentation for them). Prints each undocumented
# declaration as FILE:LINE and fails if there is one. (Under a second; DocC itself warns only
# about broken links.)
set -euo pipefail
cd "$(dirname "$0")/.."
missing=$(awk '
    FNR == 1 { depth = 0; documented = 0 }
    /^[ \t]*\/\/\// { documented = 1; next }
    /^[ \t]*@[A-Za-z_]+(\([^)]*\))?[ \t]*$/ { next }             # an attribute on a line of its own
    {
        line = $0
        gsub(/"([^"\\]|\\.)*"/, "\"\"", line)                       # braces in strings do not count
        sub(/\/\/.*/, "", line)
        exempt = 0
        for (i = 1; i <= depth; i++) if (kind[i] == "conformance") exempt = 1
        decl = line ~ /^[ \t]*(@[A-Za-z_]+(\([^)]*\))?[ \t]+)*public[ \t]/ \
            || (depth > 0 && kind[depth] == "enum" && line ~ /^[ \t]*case[ \t]/) \
            || (depth > 0 && kind[depth] == "protocol" && line ~ /^[ \t]*(static |mutating )*(init|var|func|associatedtype)[ \t(]/)
        if (decl && !documented && !exempt && line !~ /public var description: String/)
            printf "%s:%d: %s\n", FILENAME, FNR, $0
        opens = gsub(/\{/, "{", line); closes = gsub(/\}/, "}", line)
        for (n = opens - closes; n > 0; n--) {
            depth++
            kind[depth] = line ~ /public (indirect )?enum / ? "enum" : line ~ /public protocol / ? "protocol" \
                : line ~ /^[ \t]*(public )?extension [^{]*:/ ? "conformance" : "other"
        }
        for (n = closes - opens; n > 0 && depth > 0; n--) depth--
        documented = 0
    }' Sources/Vonnx/*.swift Sources/VonnxIR/*.swift Sources/VonnxVulkan/*.swift)
if [ -n "$missing" ]; then
    echo "$missing"
    echo "check-doc-comments: $(echo "$missing" | wc -l) public declaration(s) without a /// comment" >&2
    exit 1
fi
echo "check-doc-comments: ok"
