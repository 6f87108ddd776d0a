package org.dmashare.dart;

import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;

/**
 * The registers and table memory of a DART, as written by {@link DartIommu#dump()} and read back
 * by {@link DartBackend#restore}. Its JSON form is exactly
 * <pre>{"variant": "t8020", "ttbr": {"&lt;sid&gt;": [&lt;TTBR values&gt;]}, "tcr": {"&lt;sid&gt;": &lt;TCR&gt;},
 *  "memory": {"0x&lt;page address&gt;": "&lt;hex bytes of the 16 KiB page&gt;"}}</pre>
 * with four TTBRs per stream on t8020/t6000 and one on t8110; numbers may be JSON integers or
 * {@code "0x…"} strings.
 *
 * <p>The page arrays are shared, not copied: treat them as read-only.
 *
 * @param variant {@code t8020}, {@code t6000} or {@code t8110}
 * @param ttbr per stream, its TTBR register values (unsigned 32-bit)
 * @param tcr per stream, its TCR value (unsigned 32-bit)
 * @param memory 16 KiB table pages by physical address
 */
public record DartDump(
        String variant, Map<Integer, List<Long>> ttbr, Map<Integer, Long> tcr, Map<Long, byte[]> memory) {

    /**
     * Validates and copies the maps (sorted).
     *
     * @param variant the variant name
     * @param ttbr TTBR values per stream
     * @param tcr TCR value per stream
     * @param memory pages by address
     * @throws InvalidArgumentException if the variant is unknown, a page is not 16 KiB or misaligned
     */
    public DartDump {
        Objects.requireNonNull(variant, "variant");
        DartVariant.of(variant);
        Map<Integer, List<Long>> t = new TreeMap<>();
        Objects.requireNonNull(ttbr, "ttbr").forEach((k, v) -> t.put(k, List.copyOf(v)));
        ttbr = Collections.unmodifiableMap(t);
        tcr = Collections.unmodifiableMap(new TreeMap<>(Objects.requireNonNull(tcr, "tcr")));
        Map<Long, byte[]> m = new TreeMap<>(Objects.requireNonNull(memory, "memory"));
        for (Map.Entry<Long, byte[]> e : m.entrySet()) {
            if (e.getValue().length != DartPteFormat.GRANULE || (e.getKey() & (DartPteFormat.GRANULE - 1)) != 0) {
                throw new InvalidArgumentException("dump page " + Hex.of(e.getKey()) + " of " + e.getValue().length
                        + " bytes refused: pages must be 16 KiB (0x4000) long and 16 KiB aligned");
            }
        }
        memory = Collections.unmodifiableMap(m);
    }

    /**
     * Writes the dump as JSON of the shape above (TTBR and TCR as integers, page addresses as
     * {@code "0x…"} keys, page bytes as lower-case hex).
     *
     * @return the JSON text
     */
    public String toJson() {
        return DartJson.write(this);
    }

    /**
     * Reads a dump from JSON of the shape above.
     *
     * @param json the text
     * @return the dump
     * @throws InvalidArgumentException if the text is not such JSON; the message says where
     */
    public static DartDump fromJson(String json) {
        return DartJson.read(json);
    }

    @Override
    public String toString() {
        return "DartDump[" + variant + ", streams " + ttbr.keySet() + ", " + memory.size() + " table pages]";
    }
}
