package org.dmashare.examples.cli;

import picocli.CommandLine;

/** Parses sizes with an optional K, M or G suffix (binary units): {@code 16K}, {@code 1M}, {@code 4096}. */
final class Sizes implements CommandLine.ITypeConverter<Long> {

    @Override
    public Long convert(String text) {
        return parse(text);
    }

    static long parse(String text) {
        String t = text.trim();
        if (t.isEmpty()) {
            throw new CommandLine.TypeConversionException("empty size");
        }
        int shift = 0;
        char last = Character.toUpperCase(t.charAt(t.length() - 1));
        if (last == 'K' || last == 'M' || last == 'G') {
            shift = last == 'K' ? 10 : last == 'M' ? 20 : 30;
            t = t.substring(0, t.length() - 1);
        }
        long value;
        try {
            value = t.startsWith("0x") || t.startsWith("0X") ? Long.parseLong(t.substring(2), 16) : Long.parseLong(t);
        } catch (NumberFormatException e) {
            throw new CommandLine.TypeConversionException("'" + text + "' is not a size (examples: 4096, 16K, 1M, 2G)");
        }
        if (value <= 0 || value > (Long.MAX_VALUE >> shift)) {
            throw new CommandLine.TypeConversionException("size '" + text + "' must be positive and fit 63 bits");
        }
        return value << shift;
    }
}
