package org.dmashare.examples.cli;

import picocli.CommandLine;

/**
 * Parses sizes: a decimal or {@code 0x}-hexadecimal number of bytes, optionally followed by K, M,
 * G or T (binary units, either case): {@code 4096}, {@code 0x4000}, {@code 16K}, {@code 0x10K},
 * {@code 1M}, {@code 4T}.
 */
final class Sizes implements CommandLine.ITypeConverter<Long> {
    /** What a size may look like, for messages and help texts. */
    static final String FORMAT = "bytes in decimal or 0x-hexadecimal, optionally followed by K, M, G or T"
            + " (binary units), e.g. 4096, 0x4000, 16K, 1M, 4T";

    @Override
    public Long convert(String text) {
        return parse(text);
    }

    static long parse(String text) {
        String t = text.trim();
        if (t.isEmpty()) {
            throw new CommandLine.TypeConversionException("empty size; give " + FORMAT);
        }
        int shift = switch (Character.toUpperCase(t.charAt(t.length() - 1))) {
            case 'K' -> 10;
            case 'M' -> 20;
            case 'G' -> 30;
            case 'T' -> 40;
            default -> 0;
        };
        if (shift != 0) {
            t = t.substring(0, t.length() - 1);
        }
        long value;
        try {
            value = t.startsWith("0x") || t.startsWith("0X")
                    ? Long.parseLong(t.substring(2).replace("_", ""), 16)
                    : Long.parseLong(t);
        } catch (NumberFormatException e) {
            throw new CommandLine.TypeConversionException("'" + text + "' is not a size; give " + FORMAT);
        }
        if (value <= 0 || value > (Long.MAX_VALUE >> shift)) {
            throw new CommandLine.TypeConversionException("size '" + text + "' must be positive and below 2^63 bytes");
        }
        return value << shift;
    }
}
