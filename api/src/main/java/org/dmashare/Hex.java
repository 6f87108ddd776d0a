package org.dmashare;

/**
 * Formatting of addresses and sizes for messages and {@code toString}: hexadecimal with an
 * underscore every four digits ({@code 0x8_0000_4000}), and sizes with their binary unit.
 */
public final class Hex {
    private Hex() {}

    /**
     * Formats a value as {@code 0x} followed by hex digits grouped by four with underscores.
     * Negative values are shown as their unsigned 64-bit pattern.
     *
     * @param value the address or size
     * @return for example {@code 0x8_0000_4000}
     */
    public static String of(long value) {
        String digits = Long.toHexString(value);
        StringBuilder out = new StringBuilder(digits.length() + digits.length() / 4 + 2).append("0x");
        int head = digits.length() % 4;
        if (head == 0) {
            head = 4;
        }
        out.append(digits, 0, head);
        for (int i = head; i < digits.length(); i += 4) {
            out.append('_').append(digits, i, i + 4);
        }
        return out.toString();
    }

    /**
     * Formats a size in bytes with a binary unit when it is a whole multiple of one
     * ({@code 16 KiB}), otherwise in bytes, followed by the hex value.
     *
     * @param bytes the size
     * @return for example {@code 16 KiB (0x4000)}
     */
    public static String size(long bytes) {
        String[] units = {"EiB", "PiB", "TiB", "GiB", "MiB", "KiB"};
        for (int i = 0; i < units.length; i++) {
            int shift = 10 * (units.length - i);
            if (bytes > 0 && bytes % (1L << shift) == 0) {
                return (bytes >> shift) + " " + units[i] + " (" + of(bytes) + ")";
            }
        }
        return bytes + " bytes (" + of(bytes) + ")";
    }

    /**
     * Formats a half-open range {@code [start, start + length)}.
     *
     * @param start first address
     * @param length number of bytes
     * @return for example {@code [0x4000, 0x8000)}
     */
    public static String range(long start, long length) {
        return "[" + of(start) + ", " + of(start + length) + ")";
    }
}
