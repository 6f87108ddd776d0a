package org.dmashare.iommu;

import java.util.Collections;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.dmashare.InvalidArgumentException;

/**
 * How to build one {@link Iommu}: which variant of a backend, its instance name, the number of
 * streams and the address sizes. A zero count or width means "the variant's default". Options
 * carry backend-specific settings (documented by each backend) as strings.
 *
 * @param variant the backend variant, for example {@code lpae-4k} or {@code t8020}; never blank
 * @param name the instance name used in messages, faults and dumps; never blank
 * @param streams number of stream IDs, 0 for the variant's default
 * @param inputBits IOVA width in bits, 0 for the variant's default
 * @param outputBits physical address width in bits, 0 for the variant's default
 * @param options backend-specific settings, immutable and sorted by key
 */
public record IommuConfig(
        String variant, String name, int streams, int inputBits, int outputBits, Map<String, String> options) {

    /**
     * Validates and copies the fields.
     *
     * @param variant the backend variant
     * @param name the instance name
     * @param streams number of stream IDs or 0
     * @param inputBits IOVA width or 0
     * @param outputBits physical address width or 0
     * @param options backend-specific settings
     * @throws InvalidArgumentException if a name is blank or a number negative
     */
    public IommuConfig {
        Objects.requireNonNull(variant, "variant");
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(options, "options");
        if (variant.isBlank() || name.isBlank()) {
            throw new InvalidArgumentException(
                    "IOMMU variant and name must not be blank, got variant '" + variant + "' name '" + name + "'");
        }
        if (streams < 0 || inputBits < 0 || outputBits < 0) {
            throw new InvalidArgumentException(
                    "stream count and address widths must be >= 0 (0 = default), got streams " + streams + ", input "
                            + inputBits + ", output " + outputBits);
        }
        // Map.copyOf rejects nulls but iterates in no fixed order; keep the promised key order.
        options = Collections.unmodifiableMap(new TreeMap<>(Map.copyOf(options)));
    }

    /**
     * Starts a configuration for {@code variant}, named after it.
     *
     * @param variant the backend variant
     * @return a builder
     */
    public static Builder builder(String variant) {
        return new Builder(variant);
    }

    /**
     * A configuration with every default for {@code variant}.
     *
     * @param variant the backend variant
     * @return the configuration
     */
    public static IommuConfig of(String variant) {
        return builder(variant).build();
    }

    /**
     * An option's value.
     *
     * @param key the option name
     * @return its value, if set
     */
    public Optional<String> option(String key) {
        return Optional.ofNullable(options.get(key));
    }

    /**
     * A boolean option: {@code "true"} or {@code "false"}.
     *
     * @param key the option name
     * @param fallback the value when unset
     * @return the option's value
     * @throws InvalidArgumentException if the value is neither {@code true} nor {@code false}
     */
    public boolean flag(String key, boolean fallback) {
        String v = options.get(key);
        if (v == null) {
            return fallback;
        }
        if (!v.equals("true") && !v.equals("false")) {
            throw new InvalidArgumentException("option " + key + " must be true or false, got '" + v + "'");
        }
        return Boolean.parseBoolean(v);
    }

    /**
     * The stream count to build: {@link #streams()}, or {@code defaultStreams} when that is 0.
     *
     * @param unit what is being built, for the message (for example {@code "backend generic"})
     * @param defaultStreams the variant's default
     * @param maxStreams the most the variant has
     * @return the count, 1 to {@code maxStreams}
     * @throws InvalidArgumentException if the configured count exceeds {@code maxStreams}
     */
    public int streamsOr(String unit, int defaultStreams, int maxStreams) {
        int n = streams == 0 ? defaultStreams : streams;
        if (n > maxStreams) {
            throw new InvalidArgumentException(unit + " supports 1.." + maxStreams + " streams, got " + n);
        }
        return n;
    }

    /**
     * Refuses options a backend does not know, so a misspelt option fails loudly instead of being
     * ignored.
     *
     * @param backend the backend's name, for the message
     * @param accepted the option names the backend reads
     * @throws InvalidArgumentException naming the first unknown option and listing the accepted ones
     */
    public void requireKnownOptions(String backend, Set<String> accepted) {
        for (String key : options.keySet()) {
            if (!accepted.contains(key)) {
                throw new InvalidArgumentException("backend " + backend + " has no option '" + key + "'; it accepts "
                        + (accepted.isEmpty() ? "none" : new TreeSet<>(accepted)));
            }
        }
    }

    /** Builds an {@link IommuConfig}. */
    public static final class Builder {
        private final String variant;
        private String name;
        private int streams;
        private int inputBits;
        private int outputBits;
        private final Map<String, String> options = new TreeMap<>();

        private Builder(String variant) {
            this.variant = Objects.requireNonNull(variant, "variant");
            this.name = variant;
        }

        /**
         * Sets the instance name.
         *
         * @param name used in messages, faults and dumps
         * @return this builder
         */
        public Builder name(String name) {
            this.name = Objects.requireNonNull(name, "name");
            return this;
        }

        /**
         * Sets the number of streams.
         *
         * @param streams stream IDs 0 .. streams-1, or 0 for the default
         * @return this builder
         */
        public Builder streams(int streams) {
            this.streams = streams;
            return this;
        }

        /**
         * Sets the IOVA width.
         *
         * @param bits input address bits, or 0 for the default
         * @return this builder
         */
        public Builder inputBits(int bits) {
            this.inputBits = bits;
            return this;
        }

        /**
         * Sets the physical address width.
         *
         * @param bits output address bits, or 0 for the default
         * @return this builder
         */
        public Builder outputBits(int bits) {
            this.outputBits = bits;
            return this;
        }

        /**
         * Sets a backend-specific option.
         *
         * @param key option name
         * @param value option value
         * @return this builder
         */
        public Builder option(String key, String value) {
            options.put(Objects.requireNonNull(key, "key"), Objects.requireNonNull(value, "value"));
            return this;
        }

        /**
         * Builds the configuration.
         *
         * @return the configuration
         * @throws InvalidArgumentException if a field is invalid
         */
        public IommuConfig build() {
            return new IommuConfig(variant, name, streams, inputBits, outputBits, options);
        }
    }
}
