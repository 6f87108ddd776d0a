package org.dmashare.dart;

import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.dmashare.InvalidArgumentException;

/**
 * A small JSON writer and reader for exactly the {@link DartDump} shape. The reader accepts any
 * JSON whitespace and key order, numbers as integers or {@code "0x…"} / decimal strings, and
 * ignores nothing: unknown keys are refused.
 */
final class DartJson {
    private static final HexFormat HEX = HexFormat.of();

    private DartJson() {}

    static String write(DartDump dump) {
        StringBuilder out = new StringBuilder(64 + dump.memory().size() * (int) (DartPteFormat.GRANULE * 2 + 32));
        out.append("{\"variant\": \"").append(dump.variant()).append("\", \"ttbr\": {");
        String sep = "";
        for (Map.Entry<Integer, List<Long>> e : dump.ttbr().entrySet()) {
            out.append(sep).append('"').append(e.getKey()).append("\": [");
            String inner = "";
            for (long v : e.getValue()) {
                out.append(inner).append(v);
                inner = ", ";
            }
            out.append(']');
            sep = ", ";
        }
        out.append("}, \"tcr\": {");
        sep = "";
        for (Map.Entry<Integer, Long> e : dump.tcr().entrySet()) {
            out.append(sep).append('"').append(e.getKey()).append("\": ").append(e.getValue());
            sep = ", ";
        }
        out.append("}, \"memory\": {");
        sep = "";
        for (Map.Entry<Long, byte[]> e : dump.memory().entrySet()) {
            out.append(sep)
                    .append("\n  \"0x")
                    .append(Long.toHexString(e.getKey()))
                    .append("\": \"")
                    .append(HEX.formatHex(e.getValue()))
                    .append('"');
            sep = ",";
        }
        out.append("}}\n");
        return out.toString();
    }

    static DartDump read(String json) {
        Parser p = new Parser(json);
        Object root = p.value();
        p.skipSpace();
        if (p.pos != json.length()) {
            throw p.error("trailing text after the JSON object");
        }
        Map<String, Object> top = object(root, "the dump");
        for (String key : top.keySet()) {
            if (!List.of("variant", "ttbr", "tcr", "memory").contains(key)) {
                throw new InvalidArgumentException(
                        "DART dump key '" + key + "' refused; accepted: variant, ttbr, tcr, memory");
            }
        }
        Object variant = top.get("variant");
        if (!(variant instanceof String)) {
            throw new InvalidArgumentException("DART dump needs \"variant\" as a string, got " + variant);
        }
        Map<Integer, List<Long>> ttbr = new TreeMap<>();
        object(top.getOrDefault("ttbr", Map.of()), "ttbr").forEach((k, v) -> {
            if (!(v instanceof List<?> list)) {
                throw new InvalidArgumentException("ttbr of stream " + k + " must be an array, got " + v);
            }
            List<Long> values = new ArrayList<>();
            for (Object o : list) {
                values.add(number(o, "ttbr of stream " + k));
            }
            ttbr.put(sid(k), values);
        });
        Map<Integer, Long> tcr = new TreeMap<>();
        object(top.getOrDefault("tcr", Map.of()), "tcr")
                .forEach((k, v) -> tcr.put(sid(k), number(v, "tcr of stream " + k)));
        Map<Long, byte[]> memory = new TreeMap<>();
        object(top.getOrDefault("memory", Map.of()), "memory").forEach((k, v) -> {
            if (!(v instanceof String s)) {
                throw new InvalidArgumentException("memory page " + k + " must be a hex string, got " + v);
            }
            try {
                memory.put(number(k, "memory page address"), HEX.parseHex(s));
            } catch (IllegalArgumentException e) {
                throw new InvalidArgumentException("memory page " + k + " is not hex: " + e.getMessage(), e);
            }
        });
        return new DartDump((String) variant, ttbr, tcr, memory);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(Object o, String what) {
        if (!(o instanceof Map)) {
            throw new InvalidArgumentException("DART dump: " + what + " must be a JSON object, got " + o);
        }
        return (Map<String, Object>) o;
    }

    private static int sid(String key) {
        long v = number(key, "stream id");
        if (v < 0 || v > 255) {
            throw new InvalidArgumentException("DART dump stream id " + key + " refused; accepted: 0..255");
        }
        return (int) v;
    }

    private static long number(Object o, String what) {
        if (o instanceof Long l) {
            return l;
        }
        if (o instanceof String s) {
            try {
                return s.startsWith("0x") || s.startsWith("0X")
                        ? Long.parseUnsignedLong(s.substring(2).replace("_", ""), 16)
                        : Long.parseLong(s);
            } catch (NumberFormatException e) {
                throw new InvalidArgumentException(what + " '" + s + "' is not a number (integer or \"0x…\")", e);
            }
        }
        throw new InvalidArgumentException(what + " must be an integer or a \"0x…\" string, got " + o);
    }

    /** Recursive-descent parser producing Map, List, String, Long, Boolean or null. */
    private static final class Parser {
        final String s;
        int pos;

        Parser(String s) {
            this.s = s;
        }

        InvalidArgumentException error(String why) {
            return new InvalidArgumentException("DART dump JSON refused at offset " + pos + ": " + why);
        }

        void skipSpace() {
            while (pos < s.length() && Character.isWhitespace(s.charAt(pos))) {
                pos++;
            }
        }

        Object value() {
            skipSpace();
            if (pos >= s.length()) {
                throw error("unexpected end");
            }
            char c = s.charAt(pos);
            if (c == '{') {
                return obj();
            } else if (c == '[') {
                return arr();
            } else if (c == '"') {
                return str();
            } else if (c == '-' || Character.isDigit(c)) {
                int start = pos;
                pos++;
                while (pos < s.length() && Character.isDigit(s.charAt(pos))) {
                    pos++;
                }
                if (pos < s.length() && ".eE".indexOf(s.charAt(pos)) >= 0) {
                    throw error("only integers are accepted");
                }
                try {
                    return Long.parseLong(s.substring(start, pos));
                } catch (NumberFormatException e) {
                    throw error("integer out of range");
                }
            } else if (s.startsWith("true", pos)) {
                pos += 4;
                return Boolean.TRUE;
            } else if (s.startsWith("false", pos)) {
                pos += 5;
                return Boolean.FALSE;
            } else if (s.startsWith("null", pos)) {
                pos += 4;
                return null;
            }
            throw error("unexpected character '" + c + "'");
        }

        Map<String, Object> obj() {
            Map<String, Object> out = new LinkedHashMap<>();
            pos++;
            skipSpace();
            if (pos < s.length() && s.charAt(pos) == '}') {
                pos++;
                return out;
            }
            while (true) {
                skipSpace();
                if (pos >= s.length() || s.charAt(pos) != '"') {
                    throw error("expected a key string");
                }
                String key = str();
                skipSpace();
                expect(':');
                if (out.put(key, value()) != null) {
                    throw error("duplicate key '" + key + "'");
                }
                skipSpace();
                if (pos < s.length() && s.charAt(pos) == ',') {
                    pos++;
                } else {
                    expect('}');
                    return out;
                }
            }
        }

        List<Object> arr() {
            List<Object> out = new ArrayList<>();
            pos++;
            skipSpace();
            if (pos < s.length() && s.charAt(pos) == ']') {
                pos++;
                return out;
            }
            while (true) {
                out.add(value());
                skipSpace();
                if (pos < s.length() && s.charAt(pos) == ',') {
                    pos++;
                } else {
                    expect(']');
                    return out;
                }
            }
        }

        String str() {
            pos++;
            for (int end = pos; end < s.length() && s.charAt(end) != '\\'; end++) {
                if (s.charAt(end) == '"') {
                    String plain = s.substring(pos, end);
                    pos = end + 1;
                    return plain;
                }
            }
            StringBuilder out = new StringBuilder();
            while (pos < s.length()) {
                char c = s.charAt(pos++);
                if (c == '"') {
                    return out.toString();
                }
                if (c == '\\') {
                    if (pos >= s.length()) {
                        break;
                    }
                    char e = s.charAt(pos++);
                    switch (e) {
                        case 'n':
                            out.append('\n');
                            break;
                        case 't':
                            out.append('\t');
                            break;
                        case 'r':
                            out.append('\r');
                            break;
                        case 'b':
                            out.append('\b');
                            break;
                        case 'f':
                            out.append('\f');
                            break;
                        case 'u':
                            if (pos + 4 > s.length()) {
                                throw error("bad \\u escape");
                            }
                            out.append((char) Integer.parseInt(s.substring(pos, pos + 4), 16));
                            pos += 4;
                            break;
                        default:
                            out.append(e);
                    }
                } else {
                    out.append(c);
                }
            }
            throw error("unterminated string");
        }

        void expect(char c) {
            if (pos >= s.length() || s.charAt(pos) != c) {
                throw error("expected '" + c + "'");
            }
            pos++;
        }
    }
}
