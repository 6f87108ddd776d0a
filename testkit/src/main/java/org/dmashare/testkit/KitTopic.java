package org.dmashare.testkit;

/**
 * What every topic of the kit ({@link MapRules}, {@link UnmapRules}, ...) needs: the running
 * check's fixture. The kit's topics are JUnit 5 test interfaces whose checks are default methods;
 * {@link IommuBackendConformanceKit} implements them all, so the checks run under the backend
 * author's test class.
 */
public interface KitTopic {
    /**
     * The fixture of the running check: a fresh memory, the unit under test and the backend's
     * declaration, and the resources the check makes, released after it.
     *
     * @return the fixture, never null while a check runs
     */
    KitFixture kit();
}
