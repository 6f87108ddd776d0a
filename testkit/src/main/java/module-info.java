/**
 * The dmashare backend conformance kit: {@link org.dmashare.testkit.IommuBackendConformanceKit},
 * an abstract JUnit 5 suite a backend author extends (its rules by topic, each with a stable ID in
 * {@link org.dmashare.testkit.KitRule}), and {@link
 * org.dmashare.testkit.DmaShareAssertions}, AssertJ assertions that walk the page tables in
 * memory.
 */
module org.dmashare.testkit {
    requires transitive org.dmashare.api;
    requires transitive org.junit.jupiter.api;
    requires transitive org.assertj.core;

    exports org.dmashare.testkit;

    // JUnit invokes the kit's checks (default methods of its topic interfaces), its lifecycle methods
    // and its display-name generator reflectively.
    opens org.dmashare.testkit to
            org.junit.platform.commons;
}
