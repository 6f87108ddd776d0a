package org.dmashare.it.reliability;

import java.util.Locale;

/**
 * Knobs shared by the reliability campaign: the scale ({@code -Ddmashare.test.scale=N}, CI runs
 * 1), the seed of randomised runs ({@code -Ddmashare.test.seed=S} replays one), and the one
 * summary line each campaign prints so its numbers can be quoted.
 */
final class Campaign {
    static final int SCALE = Math.max(1, Integer.getInteger("dmashare.test.scale", 1));

    private Campaign() {}

    /** The seed to use: {@code dmashare.test.seed} if given, else a fresh one; printed either way. */
    static long seed(String campaign) {
        Long given = Long.getLong("dmashare.test.seed");
        long seed = given != null ? given : System.nanoTime();
        System.out.println(campaign + ": seed=" + seed + " (replay with -Ddmashare.test.seed=" + seed + ")");
        return seed;
    }

    /** Prints the campaign's summary line, e.g. {@code model-based: 2,000 sequences, 25,113 steps}. */
    static void summary(String campaign, String format, Object... args) {
        System.out.println("[campaign] " + campaign + ": " + String.format(Locale.ROOT, format, args));
    }
}
