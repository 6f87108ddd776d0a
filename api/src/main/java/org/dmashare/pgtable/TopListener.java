package org.dmashare.pgtable;

/**
 * Told when an {@link IoPageTable} whose format has a growing top ({@link PteFormat#startLevel()}
 * above 0) installs a new top table, so that the unit can reprogram its root register (AMD-Vi:
 * the device-table entry's root pointer and mode) before any IOVA that needs the new top is
 * used. Called with the table's lock held, after the new root is published; it must not call
 * back into the table's mutating methods.
 */
@FunctionalInterface
public interface TopListener {
    /** A listener that does nothing, for tables whose top never changes. */
    TopListener NONE = (rootPa, topLevel) -> {};

    /**
     * The table's top changed.
     *
     * @param rootPa the new top table's physical address
     * @param topLevel its level (0 .. the format's {@link PteFormat#startLevel()})
     */
    void topChanged(long rootPa, int topLevel);
}
